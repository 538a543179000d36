//! The transactions of an HTTP/1 connection that wait for their response
//! (or its end), in request order, with the bytes their messages hold
//! kept as a running total.
//!
//! The shard re-charges a connection's memory after every segment; adding
//! up a pipeline of a thousand transactions each time was 15% of the
//! instructions of a run over the public captures (perf/real.sh). So the
//! total changes where the messages do: a transaction entering or leaving
//! the queue, a response attached, a body or trailers growing in place.
//! Reads go through `Deref`; every change goes through a method here.
//! Debug builds (the ci profile, the fuzzers) check the total against a
//! recount whenever it is read.

use std::collections::VecDeque;
use std::ops::Deref;

use super::{Message, Transaction};

#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<Transaction>,
    /// `held` of every transaction in `queue`.
    bytes: usize,
}

/// Bytes a message holds for the memory budget: its body's buffer, its
/// head and trailers.
pub fn message_bytes(m: &Message) -> usize {
    m.body.capacity() + m.head.len() + m.trailers.as_ref().map_or(0, |t| t.len())
}

fn held(t: &Transaction) -> usize {
    [&t.request, &t.response]
        .into_iter()
        .flatten()
        .map(message_bytes)
        .sum()
}

impl Deref for Pending {
    type Target = VecDeque<Transaction>;

    fn deref(&self) -> &VecDeque<Transaction> {
        &self.queue
    }
}

impl Pending {
    pub fn push_back(&mut self, t: Transaction) {
        self.bytes += held(&t);
        self.queue.push_back(t);
    }

    pub fn push_front(&mut self, t: Transaction) {
        self.bytes += held(&t);
        self.queue.push_front(t);
    }

    pub fn pop_front(&mut self) -> Option<Transaction> {
        let t = self.queue.pop_front()?;
        self.bytes -= held(&t);
        Some(t)
    }

    pub fn remove(&mut self, i: usize) -> Option<Transaction> {
        let t = self.queue.remove(i)?;
        self.bytes -= held(&t);
        Some(t)
    }

    /// A transaction's flags and markers. Its messages' sizes change only
    /// through `attach_response` and `resize`.
    pub fn get_mut(&mut self, i: usize) -> &mut Transaction {
        &mut self.queue[i]
    }

    /// Every transaction's flags and markers (sizes as for `get_mut`).
    pub fn iter_mut(&mut self) -> std::collections::vec_deque::IterMut<'_, Transaction> {
        self.queue.iter_mut()
    }

    /// Gives transaction `i` its response.
    pub fn attach_response(&mut self, i: usize, m: Message) -> &mut Transaction {
        let t = &mut self.queue[i];
        let replaced = t.response.as_ref().map_or(0, message_bytes);
        self.bytes = self.bytes + message_bytes(&m) - replaced;
        t.response = Some(m);
        t
    }

    /// A message in the queue went from `before` to `after` bytes
    /// (`message_bytes`, measured around the change).
    pub fn resize(&mut self, before: usize, after: usize) {
        self.bytes = self.bytes + after - before;
    }

    /// Lets go of the queue's storage once it is empty: an idle
    /// keep-alive connection then costs only its table entry.
    pub fn release_if_empty(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > 0 {
            self.queue = VecDeque::new();
        }
    }

    /// Bytes the queued messages hold.
    pub fn bytes(&self) -> usize {
        debug_assert_eq!(
            self.bytes,
            self.queue.iter().map(held).sum::<usize>(),
            "pending bytes out of step with the queue"
        );
        self.bytes
    }
}
