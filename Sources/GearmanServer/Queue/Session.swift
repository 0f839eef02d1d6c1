import GearmanKit

/// The job-server state of one connection: its role as client, worker or both.
///
/// Created when a connection is accepted and owned by `JobCore`; read or changed only while the
/// core's lock is held. The I/O side refers to it by `connectionID`.
final class Session {
    /// A function the worker registered, with its CAN_DO_TIMEOUT in milliseconds (0 = none).
    struct Ability {
        let function: FunctionQueue
        var timeout: Int
    }

    let connectionID: Int
    /// The index of the event loop that owns the connection.
    let loopIndex: Int
    let fd: Int32
    /// The peer's IP address as `workers` prints it.
    let peerAddress: String

    /// The id from SET_CLIENT_ID; `-` until one is set.
    var clientID: [UInt8] = [UInt8(ascii: "-")]
    /// The worker's registrations in the order they arrived, newest last. gearmand 1.1 lists
    /// the newest first and keeps repeated CAN_DOs, so readers go through them in reverse.
    /// Appending keeps a long run of CAN_DO packets linear.
    var abilities: [Ability] = []
    /// Whether the client asked for WORK_EXCEPTION packets with OPTION_REQ `exceptions`.
    var wantsExceptions: Bool
    /// Whether the worker sent PRE_SLEEP and has not grabbed since.
    var isSleeping = false
    /// Whether a NOOP was sent since the worker last grabbed.
    var wasWoken = false
    /// Jobs assigned to this worker and not finished.
    var heldJobs: [Job] = []
    /// Packets for this connection waiting in the store committer; while there are any, every
    /// new packet for the connection queues behind them to keep replies in request order.
    var heldOutputs = 0
    /// Foreground jobs this client listens to.
    var listenedJobs: [UInt64: Job] = [:]

    init(connectionID: Int, loopIndex: Int, fd: Int32, peerAddress: String, wantsExceptions: Bool) {
        self.connectionID = connectionID
        self.loopIndex = loopIndex
        self.fd = fd
        self.peerAddress = peerAddress
        self.wantsExceptions = wantsExceptions
    }
}
