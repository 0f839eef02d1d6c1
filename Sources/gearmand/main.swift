import GearmanServer

#if canImport(Glibc)
    import Glibc
#endif

var environment: [String: String] = [:]
if let port = getenv("GEARMAND_PORT") {
    environment["GEARMAND_PORT"] = String(cString: port)
}
exit(Gearmand.main(arguments: Array(CommandLine.arguments.dropFirst()), environment: environment))
