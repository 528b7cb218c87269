/// The playground's click-count job: read click events, count them per page in 15 s tumbling
/// windows, write one statistics record per window and page. Its dataflow is declared by the
/// `click-count-job` executable on SluiceApp; these are the playground's constants it and the
/// verdicts share.
public enum ClickCountJob {
    public static let windowSize: Int64 = ClickEventSequence.windowSizeMilliseconds
    public static let outOfOrdernessMillis: Int64 = 200
    /// A partition without records for this long stops holding the watermark back (the playground's
    /// 5 s). An outage longer than this can make records late: when the partitions come back one
    /// after the other, the first one alone moves the watermark (Flink's idleness semantics).
    public static let idlenessMillis: Int64 = 5000
    /// The consumer group the job's source commits offsets to at checkpoints (the playground's).
    public static let groupId = "click-event-count"
}
