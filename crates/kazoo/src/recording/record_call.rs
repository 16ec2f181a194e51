//! The `record_call` callflow action as pure state: a stack of recordings per call.
//!
//! `action` is stop only when it is exactly `"stop"` (so `"Stop"` or a missing action start a
//! recording). Start pushes a recording; stop ends the newest one still running (LIFO).
//! Recordings that end by themselves (time limit, hangup) are removed with
//! [`RecordCallStack::finished`] so a later stop skips them.

use serde_json::Value;

use crate::recording::config::PolicyConfig;
use crate::recording::origin::Origin;
use crate::recording::params::RecordingParams;
use crate::recording::resolved::ResolvedSettings;
use crate::recording::trigger::StartTrigger;

/// One recording started by `record_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallflowRecording {
    /// Recording id: 32 lowercase hex digits from the id generator.
    pub id: String,
    /// File name: `media_name` verbatim when given, else `<id>.<ext>`. It is a name, not a
    /// path: the caller must not let `/` or `..` in it escape its spool directory.
    pub file_name: String,
    /// `callflow : <label>` (or `callflow`).
    pub origin: Origin,
    /// When it starts (from `record_on_answer` / `record_on_bridge`).
    pub trigger: StartTrigger,
    /// Settings with defaults applied (`time_limit` default 3600).
    pub settings: ResolvedSettings,
}

/// What applying one `record_call` action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackEvent {
    /// A recording was pushed and should be started.
    Started(CallflowRecording),
    /// The newest running recording was popped and should be stopped.
    Stopped(CallflowRecording),
    /// A stop arrived with nothing running: nothing to do (reported, not an error).
    NothingToStop,
}

/// The `record_call` recordings of one call, newest last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordCallStack {
    running: Vec<CallflowRecording>,
}

/// Formats a 128-bit id as 32 lowercase hex digits.
pub fn hex_id(id: u128) -> String {
    format!("{id:032x}")
}

/// True when `name` is a plain file name that cannot leave a directory: not empty, not `.` or
/// `..`, no `/`, `\\` or NUL. Use it before writing a `media_name` taken verbatim.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

impl RecordCallStack {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one action's `data` object. `new_id` supplies ids for started recordings
    /// (random in production, a counter in tests).
    pub fn apply(
        &mut self,
        data: &Value,
        config: &PolicyConfig,
        new_id: &mut dyn FnMut() -> u128,
    ) -> StackEvent {
        if data.get("action").and_then(Value::as_str) == Some("stop") {
            return match self.running.pop() {
                Some(r) => StackEvent::Stopped(r),
                None => StackEvent::NothingToStop,
            };
        }
        let params = RecordingParams::from_value(data);
        let settings = ResolvedSettings::resolve(&params, config);
        let id = hex_id(new_id());
        let file_name = match data.get("media_name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("{id}.{}", settings.format.extension()),
        };
        let label = data
            .get("label")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        let rec = CallflowRecording {
            id,
            file_name,
            origin: Origin::Callflow { label },
            trigger: StartTrigger::from_params(&params),
            settings,
        };
        self.running.push(rec.clone());
        StackEvent::Started(rec)
    }

    /// Removes a recording that ended by itself; returns it if it was running.
    pub fn finished(&mut self, id: &str) -> Option<CallflowRecording> {
        let pos = self.running.iter().position(|r| r.id == id)?;
        Some(self.running.remove(pos))
    }

    /// Ends everything (hangup), newest first.
    pub fn stop_all(&mut self) -> Vec<CallflowRecording> {
        let mut all = std::mem::take(&mut self.running);
        all.reverse();
        all
    }

    /// The recordings still running, oldest first.
    pub fn running(&self) -> &[CallflowRecording] {
        &self.running
    }
}
