import CGearmanSystem
import GearmanKit

#if canImport(Glibc)
    import Glibc
#endif

/// The `gearman` program: submits jobs from the command line (client mode) or runs a command
/// for each job it is given (worker mode, `-w`).
public enum GearmanTool {
    /// Runs gearman with `arguments` (without the program name) and returns the exit status.
    public static func main(arguments: [String], environment: [String: String]) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let options: GearmanOptions
        do {
            options = try GearmanOptions.parse(arguments, environment: environment)
        } catch {
            Output.error(
                CommandLineParser.errorText(program: "gearman", message: "\(error)", usage: GearmanOptions.usage))
            return 1
        }
        if options.help {
            Output.write(GearmanOptions.helpText)
            return 0
        }
        let servers: [ServerAddress]
        do {
            servers = try options.servers()
        } catch {
            Output.error("gearman: \(error)\n")
            return 1
        }
        if options.daemon, let failure = Daemon.detach() {
            Output.error("gearman: \(failure)\n")
            return 1
        }
        if let path = options.pidFile, let failure = Daemon.writePidFile(path) {
            Output.error("gearman: \(failure)\n")
            return 1
        }
        defer { if let path = options.pidFile { unlink(path) } }
        if options.worker {
            return WorkerMode(options: options, servers: servers).run()
        }
        return ClientMode(options: options, servers: servers).run()
    }
}
