import Foundation
import NIOHTTP1
import Synchronization

/// Everything a write route (`POST /savepoints`, `POST /stop`) passes before it reaches the job:
/// the access policy (no `Origin`, the token when required), the folder confinement, and one
/// savepoint or stop in flight at a time (the next gets 409 until it ends).
final class WriteRouteGuard: Sendable {
    let access: WriteAccessPolicy
    let confinement: SavepointFolderConfinement
    private let busy = Mutex<String?>(nil)

    init(access: WriteAccessPolicy, confinement: SavepointFolderConfinement) {
        self.access = access
        self.confinement = confinement
    }

    /// A write request let through; `finish()` must be called once it is answered.
    struct Admitted: Sendable {
        let stopsJob: Bool
        let directory: String?
        fileprivate let owner: WriteRouteGuard

        func finish() { owner.busy.withLock { $0 = nil } }
    }

    enum Admission {
        case admitted(Admitted)
        case refused(Reply)
    }

    func admit(uri: String, headers: HTTPHeaders) -> Admission {
        if let refusal = access.refusal(headers) { return .refused(refusal) }
        let components = URLComponents(string: uri)
        let stopsJob = components?.path == "/stop"
        let requested = components?.queryItems?.first { $0.name == "dir" }?.value
        let directory: String?
        do {
            directory = try confinement.resolve(requested)
        } catch {
            return .refused(.json(.forbidden, ["error": error.description]))
        }
        let action = stopsJob ? "a stop" : "a savepoint"
        let running: String? = busy.withLock { current in
            if let current { return current }
            current = action
            return nil
        }
        if let running {
            return .refused(.json(.conflict, ["error": "The job is already taking \(running) requested over HTTP: wait for it to finish, then ask again."]))
        }
        return .admitted(Admitted(stopsJob: stopsJob, directory: directory, owner: self))
    }
}
