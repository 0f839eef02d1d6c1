import GearmanKit

@testable import GearmanServer

#if canImport(Glibc)
    import Glibc
#endif

/// A folder under /tmp that is removed with its contents when the value is released.
final class TemporaryFolder {
    let path: String

    init() {
        var template = Array("/tmp/gearmankit-store-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
        path = String(cString: created!)
    }

    deinit {
        removeTree(path)
    }

    func file(_ name: String) -> String {
        path + "/" + name
    }

    private func removeTree(_ path: String) {
        guard let folder = opendir(path) else {
            unlink(path)
            return
        }
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name != ".", name != ".." else { continue }
            let child = path + "/" + name
            var info = stat()
            if lstat(child, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                removeTree(child)
            } else {
                unlink(child)
            }
        }
        closedir(folder)
        rmdir(path)
    }
}

/// Sample jobs that cover what a store must keep byte for byte.
enum SampleJobs {
    static func job(
        _ function: String, _ unique: String, _ priority: JobPriority = .normal, data: [UInt8] = Array("data".utf8),
        runAt: Int64 = 0
    ) -> StoredJob {
        StoredJob(
            function: Array(function.utf8), unique: Array(unique.utf8), priority: priority, data: data, runAt: runAt)
    }

    /// One job of each priority, binary data with NUL bytes, empty data, an empty unique key,
    /// a scheduled job and non-UTF-8 bytes in the data.
    static let varied: [StoredJob] = [
        job("resize", "high-1", .high, data: [0x00, 0x01, 0x00, 0xFF]),
        job("resize", "normal-1", .normal, data: Array("plain text".utf8)),
        job("resize", "low-1", .low, data: []),
        job("email", "", .normal, data: [0x00]),
        job("email", "scheduled", .low, data: Array("later".utf8), runAt: 1_896_000_000),
        job("report", "binary", .high, data: (0...255).map { UInt8($0) }),
    ]
}

/// Creates or replaces a file with `text`.
func writeFile(_ path: String, _ text: String) {
    let file = fopen(path, "w")
    precondition(file != nil, "fopen \(path) failed: \(String(cString: strerror(errno)))")
    fputs(text, file)
    fclose(file)
}

/// Sets a file's size, to simulate a write that a crash cut short.
func truncateFile(_ path: String, to size: Int) {
    precondition(truncate(path, off_t(size)) == 0, "truncate failed: \(String(cString: strerror(errno)))")
}

func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : -1
}

func fileExists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

/// Copies a file byte for byte.
func copyFile(from source: String, to destination: String) throws {
    guard let input = fopen(source, "rb") else { throw SystemError.current("fopen \(source)") }
    defer { fclose(input) }
    guard let output = fopen(destination, "wb") else { throw SystemError.current("fopen \(destination)") }
    defer { fclose(output) }
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = fread(&buffer, 1, buffer.count, input)
        if count == 0 { break }
        fwrite(buffer, 1, count, output)
    }
}

/// Writes an append-only log of three batches of one add each to `queue.log` in `folder`.
///
/// - Returns: the path and the size of the file after the first batch, where the second starts.
func writeThreeBatchLog(in folder: TemporaryFolder) throws -> (path: String, sizeAfterFirst: Int) {
    let path = folder.file("queue.log")
    let store = try AppendLogQueueStore(path: path)
    defer { store.close() }
    try store.commit([.add(SampleJobs.job("f", "1"))])
    let sizeAfterFirst = fileSize(path)
    try store.commit([.add(SampleJobs.job("f", "2", data: Array("second".utf8)))])
    try store.commit([.add(SampleJobs.job("f", "3"))])
    return (path, sizeAfterFirst)
}

/// Returns every byte of a file.
func fileBytes(_ path: String) throws -> [UInt8] {
    guard let input = fopen(path, "rb") else { throw SystemError.current("fopen \(path)") }
    defer { fclose(input) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = fread(&buffer, 1, buffer.count, input)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return bytes
}

/// Flips one byte of a file, to simulate corruption.
func flipByte(in path: String, at offset: Int) {
    let fd = open(path, O_RDWR)
    precondition(fd >= 0)
    defer { close(fd) }
    var byte: UInt8 = 0
    precondition(pread(fd, &byte, 1, off_t(offset)) == 1)
    byte ^= 0xFF
    precondition(pwrite(fd, &byte, 1, off_t(offset)) == 1)
}

/// Returns the path of a file in the Fixtures folder of this test target.
func fixturePath(_ name: String) -> String {
    // #filePath is Tests/GearmanServerTests/Persistence/PersistenceTestSupport.swift.
    var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(2)
    return components.joined(separator: "/") + "/Fixtures/" + name
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw TestSetupError("bind to 127.0.0.1 port 0 failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A failure to set up a test's environment, such as a server that did not start.
struct TestSetupError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
