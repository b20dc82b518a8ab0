//! Pooled consumers for reads at arbitrary offsets.

use super::*;

/// A pooled consumer for reads at arbitrary offsets.
pub(super) struct Fetcher {
    pub(super) consumer: StreamConsumer<GwContext>,
    /// The partition and next offset the consumer is positioned at.
    pub(super) at: Option<(Tp, i64)>,
    /// A message read past a batch's limits, kept for the next read.
    pub(super) held: Option<Arc<Record>>,
}

impl Fetcher {
    pub(super) async fn read(
        &mut self,
        tp: &Tp,
        offset: i64,
        limits: FetchLimits,
        wait: Duration,
    ) -> Result<Vec<Arc<Record>>> {
        if self.at.as_ref() != Some(&(tp.clone(), offset)) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(offset))
                .map_err(|e| upstream_error(&e))?;
            self.consumer.assign(&tpl).map_err(|e| upstream_error(&e))?;
            self.at = Some((tp.clone(), offset));
            self.held = None;
        }
        let mut out: Vec<Arc<Record>> = Vec::new();
        let mut bytes = 0;
        let mut next = offset;
        if let Some(r) = self.held.take() {
            if r.offset >= next {
                bytes += r.size();
                next = r.offset + 1;
                out.push(r);
            }
        }
        let deadline = tokio::time::Instant::now() + wait;
        while out.len() < limits.max_messages {
            let msg = if out.is_empty() {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                match self.consumer.recv().now_or_never() {
                    Some(m) => m,
                    None => break,
                }
            };
            let m = match msg {
                Ok(m) => m,
                Err(e) => {
                    self.at = None;
                    return Err(match e.rdkafka_error_code() {
                        Some(RDKafkaErrorCode::OffsetOutOfRange) => {
                            GatewayError::OffsetOutOfRange {
                                offset: next,
                                earliest: -1,
                                end: -1,
                            }
                        }
                        _ => upstream_error(&e),
                    });
                }
            };
            // Stale messages from an earlier assignment are skipped.
            if m.topic() != &*tp.0 || m.partition() != tp.1 || m.offset() < next {
                continue;
            }
            let r = to_record(&m, &tp.0);
            if !out.is_empty() && bytes + r.size() > limits.max_bytes {
                self.held = Some(r);
                break;
            }
            bytes += r.size();
            next = r.offset + 1;
            out.push(r);
        }
        self.at = Some((tp.clone(), next));
        Ok(out)
    }
}
