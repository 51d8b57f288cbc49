//! What both ledger backends report about a refused transition, decided once.

use super::{Outcome, SliceState, Transition};

impl Outcome {
    /// Why `transition`, a `Split` the ledger refused while the parent was still live
    /// (Running or Queued), was refused; `None` for every other outcome. Both backends
    /// refuse, as an illegal move, a split whose children are empty, of another request,
    /// or the parent itself, and log this reason as a warning: a split refused for a parent
    /// that has already finished is an ordinary late duplicate and says nothing.
    pub fn refused_split(&self, transition: &Transition) -> Option<&'static str> {
        let live = self
            .slice
            .as_ref()
            .is_some_and(|s| matches!(s.state, SliceState::Running | SliceState::Queued));
        (!self.applied && live && matches!(transition, Transition::Split { .. }))
            .then_some("split refused: children empty, of another request, or the parent itself")
    }
}
