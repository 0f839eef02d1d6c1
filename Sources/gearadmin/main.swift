import GearadminTools

#if canImport(Glibc)
    import Glibc
#endif

exit(GearadminTool.main(arguments: Array(CommandLine.arguments.dropFirst())))
