import GearmanKit
import GearmanServer

/// A job server started in-process on an ephemeral loopback port for one test.
final class EmbeddedServer: Sendable {
    let server: GearmanServer

    init(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.listenAddresses = ["127.0.0.1"]
        configuration.threads = 1
        configure(&configuration)
        server = try GearmanServer(configuration: configuration)
        try server.start()
    }

    var address: String { "127.0.0.1:\(server.port)" }

    func stop() {
        server.stop()
        server.wait()
    }
}

/// Runs `body` with a worker working in the background, then stops the worker.
func withWorker(
    servers: String, options: GearmanWorker.Options = GearmanWorker.Options(),
    register: (GearmanWorker) -> Void, _ body: () async throws -> Void
) async throws {
    let worker = try GearmanWorker(servers: servers, options: options)
    register(worker)
    let running = Task { try await worker.run() }
    defer {
        worker.stop(graceful: false)
        running.cancel()
    }
    try await body()
}
