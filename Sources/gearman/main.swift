import GearmanTools

#if canImport(Glibc)
    import Glibc
#endif

var environment: [String: String] = [:]
if let servers = getenv("GEARMAN_SERVER") {
    environment["GEARMAN_SERVER"] = String(cString: servers)
}
exit(GearmanTool.main(arguments: Array(CommandLine.arguments.dropFirst()), environment: environment))
