/// The command number in the header of a Gearman binary packet.
///
/// Each case keeps its protocol number and the original upper-case name in a trailing comment,
/// so a search for the name used in the protocol text finds it.
public enum PacketType: UInt32, Sendable, CaseIterable {
    case canDo = 1  // CAN_DO
    case cantDo = 2  // CANT_DO
    case resetAbilities = 3  // RESET_ABILITIES
    case preSleep = 4  // PRE_SLEEP
    case unused = 5  // (unused)
    case noop = 6  // NOOP
    case submitJob = 7  // SUBMIT_JOB
    case jobCreated = 8  // JOB_CREATED
    case grabJob = 9  // GRAB_JOB
    case noJob = 10  // NO_JOB
    case jobAssign = 11  // JOB_ASSIGN
    case workStatus = 12  // WORK_STATUS
    case workComplete = 13  // WORK_COMPLETE
    case workFail = 14  // WORK_FAIL
    case getStatus = 15  // GET_STATUS
    case echoRequest = 16  // ECHO_REQ
    case echoResponse = 17  // ECHO_RES
    case submitJobBackground = 18  // SUBMIT_JOB_BG
    case error = 19  // ERROR
    case statusResponse = 20  // STATUS_RES
    case submitJobHigh = 21  // SUBMIT_JOB_HIGH
    case setClientID = 22  // SET_CLIENT_ID
    case canDoTimeout = 23  // CAN_DO_TIMEOUT
    case allYours = 24  // ALL_YOURS
    case workException = 25  // WORK_EXCEPTION
    case optionRequest = 26  // OPTION_REQ
    case optionResponse = 27  // OPTION_RES
    case workData = 28  // WORK_DATA
    case workWarning = 29  // WORK_WARNING
    case grabJobUnique = 30  // GRAB_JOB_UNIQ
    case jobAssignUnique = 31  // JOB_ASSIGN_UNIQ
    case submitJobHighBackground = 32  // SUBMIT_JOB_HIGH_BG
    case submitJobLow = 33  // SUBMIT_JOB_LOW
    case submitJobLowBackground = 34  // SUBMIT_JOB_LOW_BG
    case submitJobScheduled = 35  // SUBMIT_JOB_SCHED
    case submitJobEpoch = 36  // SUBMIT_JOB_EPOCH
    case submitReduceJob = 37  // SUBMIT_REDUCE_JOB
    case submitReduceJobBackground = 38  // SUBMIT_REDUCE_JOB_BACKGROUND
    case grabJobAll = 39  // GRAB_JOB_ALL
    case jobAssignAll = 40  // JOB_ASSIGN_ALL
    case getStatusUnique = 41  // GET_STATUS_UNIQUE
    case statusResponseUnique = 42  // STATUS_RES_UNIQUE

    /// The number of NUL-terminated arguments before the final, unterminated one.
    ///
    /// A body is split into `separatorCount + 1` arguments when the type carries any; the last
    /// argument runs to the end of the body and may itself contain NUL bytes. The counts follow
    /// the command table of libgearman 1.1.20, including the fourth (aggregator) argument of the
    /// reduce submissions.
    public var separatorCount: Int {
        switch self {
        case .resetAbilities, .preSleep, .unused, .noop, .grabJob, .noJob, .allYours, .grabJobUnique,
            .grabJobAll:
            return 0
        case .canDo, .cantDo, .jobCreated, .workFail, .getStatus, .echoRequest, .echoResponse,
            .setClientID, .optionRequest, .optionResponse, .getStatusUnique:
            return 0
        case .workComplete, .workData, .workWarning, .workException, .error, .canDoTimeout:
            return 1
        case .submitJob, .submitJobBackground, .submitJobHigh, .submitJobHighBackground,
            .submitJobLow, .submitJobLowBackground, .jobAssign, .workStatus:
            return 2
        case .submitJobEpoch, .jobAssignUnique:
            return 3
        case .statusResponse, .submitReduceJob, .submitReduceJobBackground, .jobAssignAll:
            return 4
        case .statusResponseUnique:
            return 5
        case .submitJobScheduled:
            return 7
        }
    }

    /// Whether packets of this type carry no body at all.
    public var hasNoArguments: Bool {
        switch self {
        case .resetAbilities, .preSleep, .unused, .noop, .grabJob, .noJob, .allYours, .grabJobUnique,
            .grabJobAll:
            return true
        default:
            return false
        }
    }

    /// The upper-case name used in the protocol specification, such as `SUBMIT_JOB_BG`.
    public var protocolName: String {
        switch self {
        case .canDo: return "CAN_DO"
        case .cantDo: return "CANT_DO"
        case .resetAbilities: return "RESET_ABILITIES"
        case .preSleep: return "PRE_SLEEP"
        case .unused: return "UNUSED"
        case .noop: return "NOOP"
        case .submitJob: return "SUBMIT_JOB"
        case .jobCreated: return "JOB_CREATED"
        case .grabJob: return "GRAB_JOB"
        case .noJob: return "NO_JOB"
        case .jobAssign: return "JOB_ASSIGN"
        case .workStatus: return "WORK_STATUS"
        case .workComplete: return "WORK_COMPLETE"
        case .workFail: return "WORK_FAIL"
        case .getStatus: return "GET_STATUS"
        case .echoRequest: return "ECHO_REQ"
        case .echoResponse: return "ECHO_RES"
        case .submitJobBackground: return "SUBMIT_JOB_BG"
        case .error: return "ERROR"
        case .statusResponse: return "STATUS_RES"
        case .submitJobHigh: return "SUBMIT_JOB_HIGH"
        case .setClientID: return "SET_CLIENT_ID"
        case .canDoTimeout: return "CAN_DO_TIMEOUT"
        case .allYours: return "ALL_YOURS"
        case .workException: return "WORK_EXCEPTION"
        case .optionRequest: return "OPTION_REQ"
        case .optionResponse: return "OPTION_RES"
        case .workData: return "WORK_DATA"
        case .workWarning: return "WORK_WARNING"
        case .grabJobUnique: return "GRAB_JOB_UNIQ"
        case .jobAssignUnique: return "JOB_ASSIGN_UNIQ"
        case .submitJobHighBackground: return "SUBMIT_JOB_HIGH_BG"
        case .submitJobLow: return "SUBMIT_JOB_LOW"
        case .submitJobLowBackground: return "SUBMIT_JOB_LOW_BG"
        case .submitJobScheduled: return "SUBMIT_JOB_SCHED"
        case .submitJobEpoch: return "SUBMIT_JOB_EPOCH"
        case .submitReduceJob: return "SUBMIT_REDUCE_JOB"
        case .submitReduceJobBackground: return "SUBMIT_REDUCE_JOB_BACKGROUND"
        case .grabJobAll: return "GRAB_JOB_ALL"
        case .jobAssignAll: return "JOB_ASSIGN_ALL"
        case .getStatusUnique: return "GET_STATUS_UNIQUE"
        case .statusResponseUnique: return "STATUS_RES_UNIQUE"
        }
    }

    /// Whether the body is a job handle followed by an opaque payload (WORK_DATA, WORK_WARNING,
    /// WORK_COMPLETE, WORK_EXCEPTION).
    public var hasHandleThenPayload: Bool {
        switch self {
        case .workData, .workWarning, .workComplete, .workException: return true
        default: return false
        }
    }

    /// Whether the first argument is a function name: CAN_DO, CAN_DO_TIMEOUT and the SUBMIT_JOB
    /// and SUBMIT_REDUCE_JOB types. CANT_DO is left out, because the server keeps no name from it.
    public var startsWithFunctionName: Bool {
        switch self {
        case .canDo, .canDoTimeout, .submitJob, .submitJobBackground, .submitJobHigh, .submitJobHighBackground,
            .submitJobLow, .submitJobLowBackground, .submitJobScheduled, .submitJobEpoch, .submitReduceJob,
            .submitReduceJobBackground:
            return true
        default:
            return false
        }
    }

    /// Whether only a server sends this type, so a server that receives it has been sent a response.
    public var isServerResponse: Bool {
        switch self {
        case .noop, .jobCreated, .noJob, .jobAssign, .echoResponse, .error, .statusResponse,
            .optionResponse, .jobAssignUnique, .jobAssignAll, .statusResponseUnique:
            return true
        default:
            return false
        }
    }
}
