//! The balancing policies: which of the usable instances gets a request.

use super::{Backend, BackendSet, Inner};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Each instance in turn.
    RoundRobin,
    /// Each instance in proportion to its weight, interleaved (nginx's
    /// smooth weighted round-robin: weights 5,1,1 give a a b a c a a, not
    /// five a's in a row).
    WeightedRoundRobin,
    /// Two random instances, the one with fewer requests in flight
    /// ("power of two choices"): adapts to slow instances without the herd
    /// behaviour of always picking the global minimum.
    LeastOutstanding,
    /// A hash ring over the call's key (e.g. the account id): a key keeps
    /// its instance while the set is stable, and when an instance leaves
    /// only its keys move.
    ConsistentHash,
}

/// Virtual nodes per unit of weight on the hash ring: enough that three
/// instances get shares within a few percent of a third.
const VNODES: u32 = 160;

pub(super) fn build_ring(backends: &[Arc<Backend>]) -> Vec<(u64, usize)> {
    let mut ring = Vec::new();
    for (i, b) in backends.iter().enumerate() {
        for v in 0..VNODES * b.weight {
            ring.push((hash(format!("{}#{v}", b.addr).as_bytes()), i));
        }
    }
    ring.sort_unstable();
    ring
}

/// FNV-1a with a final avalanche (splitmix64): stable across processes and
/// releases, which std's hasher does not promise, so every caller maps a
/// key to the same instance.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Chooses among `candidates` (indices into `set`, never empty unless the
/// set is).
pub(super) fn choose(inner: &Inner, set: &BackendSet, candidates: &[usize], key: Option<&str>) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    if candidates.len() == 1 {
        return Some(candidates[0]);
    }
    let policy = match (inner.settings.policy, key) {
        // Without a key there is nothing to be sticky about.
        (Policy::ConsistentHash, None) => Policy::LeastOutstanding,
        (p, _) => p,
    };
    Some(match policy {
        Policy::RoundRobin => candidates[inner.rr.fetch_add(1, Ordering::Relaxed) % candidates.len()],
        Policy::WeightedRoundRobin => {
            let _turn = inner.wrr.lock().expect("wrr lock");
            let total: i64 = candidates.iter().map(|&i| i64::from(set.backends[i].weight)).sum();
            let mut best = candidates[0];
            let mut best_weight = i64::MIN;
            for &i in candidates {
                let b = &set.backends[i];
                let w = b.current_weight.fetch_add(i64::from(b.weight), Ordering::Relaxed) + i64::from(b.weight);
                if w > best_weight {
                    best_weight = w;
                    best = i;
                }
            }
            set.backends[best].current_weight.fetch_sub(total, Ordering::Relaxed);
            best
        }
        Policy::LeastOutstanding => {
            let a = rand::random_range(0..candidates.len());
            let mut b = rand::random_range(0..candidates.len() - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (candidates[a], candidates[b]);
            if set.backends[b].outstanding() < set.backends[a].outstanding() { b } else { a }
        }
        Policy::ConsistentHash => {
            let h = hash(key.unwrap_or_default().as_bytes());
            let start = set.ring.partition_point(|(p, _)| *p < h);
            (0..set.ring.len())
                .map(|k| set.ring[(start + k) % set.ring.len()].1)
                .find(|i| candidates.contains(i))
                .unwrap_or(candidates[0])
        }
    })
}
