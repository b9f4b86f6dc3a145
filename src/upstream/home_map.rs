//! The registry's homes by id, kept twice: hashed for the lookup every
//! request makes, ordered for the listings (`/v1/homes`, the dashboard,
//! MQTT, prefetch), which name homes by id in order.
//!
//! At 10,003 homes the ordered map's lookup alone (string compares down
//! the tree) was ~2.7% of a hot request's instructions (BENCHMARKS.md,
//! fourth round); a hashed lookup costs one hash of the id and one compare.

use std::collections::{BTreeMap, HashMap};

use super::home::Home;

/// Homes by id: one entry per id in each map (a `Home` is cheap to clone).
#[derive(Default)]
pub(crate) struct HomeMap {
    hashed: HashMap<String, Home>,
    ordered: BTreeMap<String, Home>,
}

impl HomeMap {
    /// Adds `home` under `id`, replacing a home of the same id.
    pub(crate) fn insert(&mut self, id: String, home: Home) {
        self.hashed.insert(id.clone(), home.clone());
        self.ordered.insert(id, home);
    }

    /// The home with `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Home> {
        self.hashed.get(id)
    }

    /// Whether a home has `id`.
    pub(crate) fn contains_key(&self, id: &str) -> bool {
        self.hashed.contains_key(id)
    }

    /// Every home, ordered by id.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Home> {
        self.ordered.values()
    }
}
