import GearmanKit
import GearmanTools

#if canImport(Glibc)
    import Glibc
#endif

/// The `gearadmin` program: one-shot admin queries from options, an interactive shell on a
/// terminal, or commands read line by line from a pipe.
public enum GearadminTool {
    /// Runs gearadmin with `arguments` (without the program name) and returns the exit status.
    public static func main(arguments: [String]) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let options: GearadminOptions
        do {
            options = try GearadminOptions.parse(arguments)
        } catch {
            if CheckOptions.isRequested(in: arguments) { return CheckCommand.reportInvalidArguments(error) }
            Output.error(
                CommandLineParser.errorText(program: "gearadmin", message: "\(error)", usage: GearadminOptions.usage))
            return 1
        }
        if options.help {
            Output.write(GearadminOptions.helpText)
            return 0
        }
        let server: ServerAddress
        do {
            server = try options.server
        } catch {
            if options.check.isEnabled { return CheckCommand.reportInvalidArguments(error) }
            Output.error("gearadmin: \(error)\n")
            return 1
        }

        if options.check.isEnabled {
            return CheckCommand.run(options.check, server: server)
        }
        if options.commands.isEmpty {
            let shell = AdminShell(server: server, interactive: isatty(0) == 1 && isatty(1) == 1)
            return shell.run()
        }
        let client: AdminClient
        do {
            client = try AdminClient(server: server, timeout: 10_000)
        } catch {
            Output.error("gearadmin: \(error)\n")
            return 1
        }
        defer { client.close() }
        var status: Int32 = 0
        for command in options.commands {
            do {
                if !printOneShot(try client.send(command)) { status = 1 }
            } catch {
                Output.error("gearadmin: \(command): \(error)\n")
                return 1
            }
        }
        return status
    }

    /// Prints a reply as the C gearadmin does; returns false for an ERR reply.
    static func printOneShot(_ reply: AdminReply) -> Bool {
        switch reply {
        case .lines(let lines):
            Output.write(lines.map { $0 + "\n" }.joined() + ".\n")
        case .ok(let value):
            Output.write((value ?? "OK") + "\n")
        case .error(let text):
            // The C tool copies the server's CR into its message; scripts may match on it.
            Output.error("Error: \(text)\r\n")
            return false
        }
        return true
    }
}
