/// The transactional ids of one sink subtask: `<prefix>-<subtask>-<slot>` for a fixed number of
/// slots. A FIXED pool (rather than Flink's id per checkpoint) keeps the set of ids a job may ever
/// have used finite and known, so recovery aborts leftovers by initialising exactly those ids,
/// with no probing, and a producer (and its connection) is reused from transaction to transaction.
struct KafkaTransactionalIdPool: Sendable, Hashable {
    let prefix: String
    let size: Int

    func id(subtask: Int, slot: Int) -> String { "\(prefix)-\(subtask)-\(slot)" }

    /// Every id a subtask must initialise at start to abort what an earlier run left open: its own
    /// slots, and the slots of subtasks of a larger earlier parallelism that map onto it
    /// (old subtask j is cleaned up by new subtask j % parallelism). The earlier parallelism is
    /// the restored checkpoint's, and at least `declaredMaxParallelism`: a start without a
    /// checkpoint (directory wiped, new machine) does not know how many subtasks ran before.
    func idsToAbort(subtask: Int, parallelism: Int, previousParallelism: Int?, declaredMaxParallelism: Int? = nil) -> [String] {
        let oldParallelism = max(previousParallelism ?? parallelism, declaredMaxParallelism ?? parallelism, parallelism)
        var ids: [String] = []
        for old in stride(from: subtask, to: oldParallelism, by: parallelism) {
            for slot in 0..<size { ids.append(id(subtask: old, slot: slot)) }
        }
        return ids
    }
}
