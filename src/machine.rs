//! The addon lifecycle state machine: states, events and the one transition table. Pure, no I/O.

use std::fmt;
use std::str::FromStr;

/// Where an addon is in its lifecycle (docs/contract.md's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    WaitingForProvision,
    Provisioned,
    Ready,
    Deprovisioned,
    Error,
}

/// Something that happens to an addon and may move it to another state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The addon was created: from no state into [`State::WaitingForProvision`]
    /// (see [`START`]); not in [`TRANSITIONS`], which leads from state to state.
    Provision,
    /// The provider reported the resource complete and its config was fetched.
    ProvisionComplete,
    /// The addon's config vars were set on its app.
    ConfigVarsSet,
    /// The user asked for the addon to go away.
    Deprovision,
    /// The addon's expiry (`expires_at`) passed: a tick deprovisions it, as the user's
    /// deprovision would, under its own name in the log.
    Expire,
    /// A task failed for good.
    Fail,
    /// The provider accepted the removal of a terminal addon's resource: upkeep of a
    /// terminal state with cleanup pending (see [`on_cleanup`]), not a transition.
    Cleanup,
}

/// The creation: the event and the state every addon starts in.
pub const START: (Event, State) = (Event::Provision, State::WaitingForProvision);

/// What a state's task does when a tick runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Ask the provider whether provisioning is complete; fetch the config when it is.
    CheckProvision,
    /// Set the addon's config vars on its app.
    SetConfigVars,
    /// Tell the provider to remove the resource (deprovision, or orphan cleanup after an error).
    Cleanup,
}

/// The transition table: (from, event, to). `addons graph` prints exactly this.
pub const TRANSITIONS: &[(State, Event, State)] = &[
    (State::WaitingForProvision, Event::ProvisionComplete, State::Provisioned),
    (State::WaitingForProvision, Event::Deprovision, State::Deprovisioned),
    (State::WaitingForProvision, Event::Expire, State::Deprovisioned),
    (State::WaitingForProvision, Event::Fail, State::Error),
    (State::Provisioned, Event::ConfigVarsSet, State::Ready),
    (State::Provisioned, Event::Deprovision, State::Deprovisioned),
    (State::Provisioned, Event::Expire, State::Deprovisioned),
    (State::Provisioned, Event::Fail, State::Error),
    (State::Ready, Event::Deprovision, State::Deprovisioned),
    (State::Ready, Event::Expire, State::Deprovisioned),
    (State::Ready, Event::Fail, State::Error),
];

/// A move the table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an addon in state {from} cannot take the event {event}")]
pub struct InvalidTransition {
    pub from: State,
    pub event: Event,
}

/// The only door from one state to the next: looks the move up in [`TRANSITIONS`].
pub fn transition(from: State, event: Event) -> Result<State, InvalidTransition> {
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
        .ok_or(InvalidTransition { from, event })
}

/// What entering a state does to an addon's config vars on its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarsOnEntry {
    /// Reserve the var names (no values yet).
    Reserve,
    /// Leave them as they are.
    Keep,
    /// Give the reserved names the fetched values.
    Fill,
    /// Remove them from the app.
    Release,
}

/// Whether entering a state leaves the provider's resource to be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupOnEntry {
    /// Nothing to remove (the addon is not terminal).
    None,
    /// Removal is owed: the terminal state's task calls the provider's `deprovision`.
    Pending,
}

/// When the entered state's task is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueOnEntry {
    /// At once.
    Now,
    /// Never: the state has no task.
    Never,
}

/// What entering a state does, as data: the store applies it the same way for the
/// creation, the user's deprovision and every step. Every entry also clears the
/// attempt count and the last failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnEntry {
    pub vars: VarsOnEntry,
    pub cleanup: CleanupOnEntry,
    pub due: DueOnEntry,
    /// The message of the event that led here is kept as the addon's `failure`.
    pub keeps_failure: bool,
}

/// What entering `state` does.
pub fn on_entry(state: State) -> OnEntry {
    let (vars, cleanup, due, keeps_failure) = match state {
        State::WaitingForProvision => (VarsOnEntry::Reserve, CleanupOnEntry::None, DueOnEntry::Now, false),
        State::Provisioned => (VarsOnEntry::Keep, CleanupOnEntry::None, DueOnEntry::Now, false),
        State::Ready => (VarsOnEntry::Fill, CleanupOnEntry::None, DueOnEntry::Never, false),
        State::Deprovisioned => (VarsOnEntry::Release, CleanupOnEntry::Pending, DueOnEntry::Now, false),
        State::Error => (VarsOnEntry::Release, CleanupOnEntry::Pending, DueOnEntry::Now, true),
    };
    debug_assert_eq!(due == DueOnEntry::Now, state.task().is_some());
    OnEntry { vars, cleanup, due, keeps_failure }
}

/// What [`Event::Cleanup`] does to a terminal addon: its cleanup is done and it has
/// no task left.
pub fn on_cleanup() -> DueOnEntry {
    DueOnEntry::Never
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 5] =
        [State::WaitingForProvision, State::Provisioned, State::Ready, State::Deprovisioned, State::Error];

    /// Whether an addon in this state is live: it holds its name and its vars.
    /// Every list of live states (in SQL too) is built from this.
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::WaitingForProvision => "waiting_for_provision",
            State::Provisioned => "provisioned",
            State::Ready => "ready",
            State::Deprovisioned => "deprovisioned",
            State::Error => "error",
        }
    }

    /// Terminal states never leave.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Deprovisioned | State::Error)
    }

    /// The task a tick runs for an addon in this state, if any.
    pub fn task(self) -> Option<Task> {
        match self {
            State::WaitingForProvision => Some(Task::CheckProvision),
            State::Provisioned => Some(Task::SetConfigVars),
            State::Ready => None,
            State::Deprovisioned | State::Error => Some(Task::Cleanup),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| format!("unknown state {s:?}"))
    }
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 7] = [
        Event::Provision,
        Event::ProvisionComplete,
        Event::ConfigVarsSet,
        Event::Deprovision,
        Event::Expire,
        Event::Fail,
        Event::Cleanup,
    ];

    /// The recorded and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Provision => "provision",
            Event::ProvisionComplete => "provision_complete",
            Event::ConfigVarsSet => "config_vars_set",
            Event::Deprovision => "deprovision",
            Event::Expire => "expired",
            Event::Fail => "fail",
            Event::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Renders the transition table as a Graphviz DOT graph.
pub fn graph_dot() -> String {
    let mut out = String::from("digraph addon_lifecycle {\n    rankdir=LR;\n    start [shape=point];\n");
    for state in State::ALL {
        let shape = if state.is_terminal() { "doublecircle" } else { "circle" };
        out += &format!("    {state} [shape={shape}];\n");
    }
    let (event, first) = START;
    out += &format!("    start -> {first} [label=\"{event}\"];\n");
    for (from, event, to) in TRANSITIONS {
        out += &format!("    {from} -> {to} [label=\"{event}\"];\n");
    }
    out += "}\n";
    out
}

/// Renders the transition table as a Mermaid state diagram.
pub fn graph_mermaid() -> String {
    let (event, first) = START;
    let mut out = format!("stateDiagram-v2\n    [*] --> {first}: {event}\n");
    for (from, event, to) in TRANSITIONS {
        out += &format!("    {from} --> {to}: {event}\n");
    }
    for state in State::ALL.into_iter().filter(|s| s.is_terminal()) {
        out += &format!("    {state} --> [*]\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::provision_completes(State::WaitingForProvision, Event::ProvisionComplete, State::Provisioned)]
    #[case::deprovision_while_waiting(State::WaitingForProvision, Event::Deprovision, State::Deprovisioned)]
    #[case::fail_while_waiting(State::WaitingForProvision, Event::Fail, State::Error)]
    #[case::config_vars_set(State::Provisioned, Event::ConfigVarsSet, State::Ready)]
    #[case::deprovision_provisioned(State::Provisioned, Event::Deprovision, State::Deprovisioned)]
    #[case::fail_provisioned(State::Provisioned, Event::Fail, State::Error)]
    #[case::deprovision_ready(State::Ready, Event::Deprovision, State::Deprovisioned)]
    #[case::fail_ready(State::Ready, Event::Fail, State::Error)]
    #[case::expire_while_waiting(State::WaitingForProvision, Event::Expire, State::Deprovisioned)]
    #[case::expire_provisioned(State::Provisioned, Event::Expire, State::Deprovisioned)]
    #[case::expire_ready(State::Ready, Event::Expire, State::Deprovisioned)]
    fn allowed(#[case] from: State, #[case] event: Event, #[case] to: State) {
        assert_eq!(transition(from, event), Ok(to));
    }

    #[rstest]
    #[case::waiting_cannot_skip_to_ready(State::WaitingForProvision, Event::ConfigVarsSet)]
    #[case::provisioned_cannot_complete_twice(State::Provisioned, Event::ProvisionComplete)]
    #[case::ready_cannot_complete(State::Ready, Event::ProvisionComplete)]
    #[case::ready_cannot_set_vars_again(State::Ready, Event::ConfigVarsSet)]
    #[case::deprovisioned_is_terminal_complete(State::Deprovisioned, Event::ProvisionComplete)]
    #[case::deprovisioned_is_terminal_vars(State::Deprovisioned, Event::ConfigVarsSet)]
    #[case::deprovisioned_is_terminal_deprovision(State::Deprovisioned, Event::Deprovision)]
    #[case::deprovisioned_is_terminal_fail(State::Deprovisioned, Event::Fail)]
    #[case::error_is_terminal_complete(State::Error, Event::ProvisionComplete)]
    #[case::error_is_terminal_vars(State::Error, Event::ConfigVarsSet)]
    #[case::error_is_terminal_deprovision(State::Error, Event::Deprovision)]
    #[case::error_is_terminal_fail(State::Error, Event::Fail)]
    #[case::deprovisioned_does_not_expire(State::Deprovisioned, Event::Expire)]
    #[case::error_does_not_expire(State::Error, Event::Expire)]
    fn rejected(#[case] from: State, #[case] event: Event) {
        assert_eq!(transition(from, event), Err(InvalidTransition { from, event }));
    }

    #[test]
    fn table_covers_every_pair_exactly_once() {
        let mut allowed = 0;
        for from in State::ALL {
            for event in Event::ALL {
                let rows = TRANSITIONS.iter().filter(|(f, e, _)| *f == from && *e == event).count();
                assert!(rows <= 1, "{from} + {event} appears {rows} times");
                allowed += rows;
            }
        }
        assert_eq!(allowed, 11);
    }

    #[test]
    fn every_non_terminal_state_can_deprovision_and_fail() {
        for from in State::ALL.into_iter().filter(|s| !s.is_terminal()) {
            assert_eq!(transition(from, Event::Deprovision), Ok(State::Deprovisioned));
            assert_eq!(transition(from, Event::Fail), Ok(State::Error));
        }
    }

    #[test]
    fn entry_effects_follow_the_lifecycle() {
        for state in State::ALL {
            let entry = on_entry(state);
            // A live addon holds its vars; a terminal one has given them back and owes a cleanup.
            assert_eq!(entry.vars == VarsOnEntry::Release, !state.is_live(), "{state}");
            assert_eq!(entry.cleanup == CleanupOnEntry::Pending, state.is_terminal(), "{state}");
            assert_eq!(entry.due == DueOnEntry::Now, state.task().is_some(), "{state}");
            assert_eq!(entry.keeps_failure, state == State::Error, "{state}");
        }
        assert_eq!(on_entry(START.1).vars, VarsOnEntry::Reserve);
        assert!(TRANSITIONS.iter().all(|(_, event, _)| *event != Event::Provision && *event != Event::Cleanup));
    }

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
        }
        assert!("Ready".parse::<State>().is_err());
    }

    #[test]
    fn graphs_name_every_transition() {
        let dot = graph_dot();
        let mermaid = graph_mermaid();
        for (from, event, to) in TRANSITIONS {
            assert!(dot.contains(&format!("{from} -> {to} [label=\"{event}\"]")));
            assert!(mermaid.contains(&format!("{from} --> {to}: {event}")));
        }
    }
}
