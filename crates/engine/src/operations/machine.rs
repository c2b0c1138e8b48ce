//! The operations' state machine: one pure function, [`decide`], that takes where an operation
//! stands and what the provider answered in one step and says where it goes next (what an
//! operation is, typed, lives in [`super::record`]).
//!
//! The rules, in one place:
//! - a provider's refusal of the request itself (invalid input, not found, unauthorised) ends a
//!   pending operation at once, with the provider's reason;
//! - an outage or a rate limit, and any failure while following something the provider already
//!   accepted, is tried again after a backoff with jitter, never at once;
//! - attempts are capped and every operation has a deadline: past either it fails, saying why.
//!
//! No I/O here: the caller calls the provider, hands the answer in, and stores the decision.

use nephele_core::{ActionId, ActionStatus, ErrorCode, InstanceId, ProviderError, ResourceId, ResourceKind};

use super::record::{OperationError, OperationKind, OperationResult};
use crate::store::OperationState;

/// What one step learned from the provider.
#[derive(Debug)]
pub enum Answer {
    /// The provider accepted a create: these instances exist.
    Created(Vec<InstanceId>),
    /// The instances of a create were read: whether every one is running yet.
    CreatePolled { all_running: bool },
    /// The instance is gone.
    Deleted,
    /// A power action was started (or found, started by an earlier attempt).
    ActionStarted(ActionId),
    /// A power action was read.
    ActionPolled(ActionStatus),
    /// A resource was made (or found, made by an earlier attempt), or an action on it is done
    /// (or was found done already).
    ResourceDone(ResourceKind, ResourceId),
    /// The provider failed or refused.
    Failed(ProviderError),
}

impl Answer {
    /// What kind of answer this is, for a message (never the provider's own words).
    fn name(&self) -> &'static str {
        match self {
            Self::Created(_) => "a create accepted",
            Self::CreatePolled { .. } => "instances read",
            Self::Deleted => "a delete done",
            Self::ActionStarted(_) => "an action started",
            Self::ActionPolled(_) => "an action read",
            Self::ResourceDone(..) => "a resource made or changed",
            Self::Failed(_) => "a failure",
        }
    }
}

/// How long and how often an operation may try.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Attempts after which an operation that must try again fails instead.
    pub max_attempts: i64,
    /// Age after which an operation that has not finished fails.
    pub deadline_ms: i64,
    /// Times a power action refused because the instance is busy is tried again.
    pub max_conflict_retries: i64,
}

/// Where an operation stands when a step ends.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    pub kind: OperationKind,
    pub state: OperationState,
    /// Attempts so far, before this step (see [`Decision::counts_as_attempt`]).
    pub attempts: i64,
    /// Milliseconds since the operation was recorded.
    pub age_ms: i64,
    /// Whether the step runs inside the request that made the operation (a busy instance is
    /// then reported to the caller rather than waited for).
    pub inline: bool,
}

/// When the operation is looked at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Never: it has ended.
    Done,
    /// After the poll interval (following something under way; not a failed attempt).
    Poll,
    /// After this many milliseconds of backoff (a failed attempt).
    Backoff(i64),
}

/// The step's outcome, to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: OperationState,
    /// Replaces the stored result when given.
    pub result: Option<OperationResult>,
    /// The error to record (`None` clears it).
    pub error: Option<OperationError>,
    pub then: Then,
}

impl Decision {
    fn to(state: OperationState, result: Option<OperationResult>, then: Then) -> Self {
        Self { state, result, error: None, then }
    }

    fn failed(error: OperationError) -> Self {
        Self { state: OperationState::Failed, result: None, error: Some(error), then: Then::Done }
    }

    /// Whether this step counts as an attempt: a call that changed something at the provider
    /// (a create accepted, an action started, a delete) or that failed. Following something
    /// under way does not count.
    pub fn counts_as_attempt(&self) -> bool {
        matches!(self.then, Then::Backoff(_)) || self.result.is_some() || self.error.is_some()
    }
}

/// Backoff before attempt `attempts + 1`: 0.5 s doubling to 30 s, with `jitter` (0..1) taking
/// up to half of it off, so operations that failed together do not all come back together.
pub fn backoff_ms(attempts: i64, jitter: f64) -> i64 {
    let full = (500i64 << attempts.clamp(0, 6)).min(30_000);
    full - (full as f64 * 0.5 * jitter.clamp(0.0, 1.0)) as i64
}

/// The next state of an operation in `situation` after the provider's `answer`. `jitter` in
/// 0..1 spreads backoffs.
pub fn decide(situation: Situation, answer: Answer, limits: Limits, jitter: f64) -> Decision {
    use OperationState::{Failed, Pending, Running, Succeeded};
    let Situation { kind, state, attempts, age_ms, inline } = situation;
    let past_deadline = age_ms > limits.deadline_ms;
    let deadline_failure = || {
        Decision::failed(OperationError::new(
            ErrorCode::DeadlineExceeded,
            format!("the operation did not finish within {} s", limits.deadline_ms / 1000),
        ))
    };
    let decision = match (kind, state, answer) {
        (_, Succeeded | Failed, _) => return Decision::to(state, None, Then::Done),

        (OperationKind::Create, Pending, Answer::Created(ids)) => {
            Decision::to(Running, Some(OperationResult::Created { instance_ids: ids }), Then::Poll)
        }
        (OperationKind::Create, Running, Answer::CreatePolled { all_running: true }) => {
            Decision::to(Succeeded, None, Then::Done)
        }
        (OperationKind::Create, Running, Answer::CreatePolled { all_running: false }) => {
            if past_deadline {
                return Decision::failed(OperationError::new(
                    ErrorCode::DeadlineExceeded,
                    format!("the instances did not reach running within {} s", limits.deadline_ms / 1000),
                ));
            }
            Decision::to(Running, None, Then::Poll)
        }
        // An instance we made is gone: someone deleted it before it ran.
        (OperationKind::Create, Running, Answer::Failed(e @ ProviderError::NotFound { .. })) => {
            Decision::failed(OperationError::from_provider(&e))
        }

        (OperationKind::Delete | OperationKind::DeleteResource, _, Answer::Deleted) => {
            Decision::to(Succeeded, Some(OperationResult::Deleted { deleted: true }), Then::Done)
        }
        // Gone already: done, if an earlier attempt of ours may have deleted it.
        (
            OperationKind::Delete | OperationKind::DeleteResource,
            _,
            Answer::Failed(ProviderError::NotFound { .. }),
        ) if attempts > 0 => {
            Decision::to(Succeeded, Some(OperationResult::Deleted { deleted: true }), Then::Done)
        }

        // A resource made, or an action on one done: nothing more to follow.
        (OperationKind::CreateResource, Pending, Answer::ResourceDone(kind, id))
        | (OperationKind::ResourceAction, Pending | Running, Answer::ResourceDone(kind, id)) => Decision::to(
            Succeeded,
            Some(OperationResult::Resource { resource_kind: kind, resource_id: id }),
            Then::Done,
        ),

        (OperationKind::Power(_) | OperationKind::ResourceAction, Pending, Answer::ActionStarted(id)) => {
            Decision::to(Running, Some(OperationResult::ActionStarted { action_id: id }), Then::Poll)
        }
        (
            OperationKind::Power(_) | OperationKind::ResourceAction,
            Running,
            Answer::ActionPolled(ActionStatus::Completed),
        ) => Decision::to(Succeeded, None, Then::Done),
        (
            OperationKind::Power(_) | OperationKind::ResourceAction,
            Running,
            Answer::ActionPolled(ActionStatus::Errored),
        ) => Decision::failed(OperationError::new(
            ErrorCode::ActionErrored,
            "the provider reports the action errored",
        )),
        (
            OperationKind::Power(_) | OperationKind::ResourceAction,
            Running,
            Answer::ActionPolled(ActionStatus::InProgress),
        ) => {
            if past_deadline {
                return deadline_failure();
            }
            Decision::to(Running, None, Then::Poll)
        }
        // Busy with another action: in background, wait for it rather than fail.
        (
            OperationKind::Power(_) | OperationKind::ResourceAction,
            Pending,
            Answer::Failed(e @ ProviderError::Conflict { .. }),
        ) if !inline && attempts < limits.max_conflict_retries => Decision {
            error: Some(OperationError::from_provider(&e)),
            ..Decision::to(Pending, None, Then::Backoff(backoff_ms(attempts.min(2), jitter)))
        },

        // A pending request the provider refuses ends here, with its reason.
        (_, Pending, Answer::Failed(e)) if !e.is_retryable() => {
            Decision::failed(OperationError::from_provider(&e))
        }
        // Outages and rate limits, and any failure while following what the provider accepted:
        // again, after a backoff.
        (_, _, Answer::Failed(e)) => {
            // A rate limit says when: never sooner than that.
            let asked = match &e {
                ProviderError::RateLimited { retry_after, .. } => {
                    i64::try_from(retry_after.after.as_millis()).unwrap_or(i64::MAX)
                }
                _ => 0,
            };
            Decision {
                error: Some(OperationError::from_provider(&e)),
                ..Decision::to(state, None, Then::Backoff(backoff_ms(attempts, jitter).max(asked)))
            }
        }

        // An answer that does not fit the state (a bug, or a step of an older version): look
        // again later rather than guess.
        (_, _, answer) => {
            tracing::warn!(?kind, ?state, ?answer, "an answer that does not fit the operation's state");
            Decision {
                error: Some(OperationError::new(
                    ErrorCode::UnexpectedAnswer,
                    format!("{} in state {}", answer.name(), state.as_str()),
                )),
                ..Decision::to(state, None, Then::Backoff(backoff_ms(attempts, jitter)))
            }
        }
    };
    // Every failed attempt counts; past the cap or the deadline the operation gives up.
    if let Then::Backoff(_) = decision.then {
        if attempts + 1 >= limits.max_attempts {
            let said = decision.error.as_ref().map_or("no detail", |e| e.message.as_str());
            let message = format!("gave up after {} attempts; the last failure: {said}", attempts + 1);
            return Decision::failed(OperationError {
                last_error: decision.error.map(Box::new),
                ..OperationError::new(ErrorCode::AttemptsExhausted, message)
            });
        }
        if past_deadline {
            return deadline_failure();
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use nephele_core::error::UpstreamDetail;
    use nephele_core::{PowerAction, RetryAfter};

    use super::*;

    const LIMITS: Limits = Limits { max_attempts: 5, deadline_ms: 600_000, max_conflict_retries: 40 };
    const KINDS: [OperationKind; 6] = [
        OperationKind::Create,
        OperationKind::Delete,
        OperationKind::Power(PowerAction::PowerOff),
        OperationKind::CreateResource,
        OperationKind::DeleteResource,
        OperationKind::ResourceAction,
    ];
    const STATES: [OperationState; 4] =
        [OperationState::Pending, OperationState::Running, OperationState::Succeeded, OperationState::Failed];

    fn at(kind: OperationKind, state: OperationState) -> Situation {
        Situation { kind, state, attempts: 0, age_ms: 1_000, inline: false }
    }

    fn errors() -> Vec<ProviderError> {
        vec![
            ProviderError::not_found("gone"),
            ProviderError::invalid("name", "bad"),
            ProviderError::Unauthorized { message: "revoked".into(), detail: UpstreamDetail::default() },
            ProviderError::RateLimited {
                retry_after: RetryAfter::from_now(Duration::from_secs(1)),
                detail: UpstreamDetail::default(),
            },
            ProviderError::Conflict { message: "busy".into(), detail: UpstreamDetail::default() },
            ProviderError::unavailable("down"),
            ProviderError::invalid_response("garbage"),
        ]
    }

    fn answers() -> Vec<Answer> {
        let mut all = vec![
            Answer::Created(vec![InstanceId("1".into())]),
            Answer::CreatePolled { all_running: true },
            Answer::CreatePolled { all_running: false },
            Answer::Deleted,
            Answer::ActionStarted(ActionId("7".into())),
            Answer::ActionPolled(ActionStatus::InProgress),
            Answer::ActionPolled(ActionStatus::Completed),
            Answer::ActionPolled(ActionStatus::Errored),
            Answer::ResourceDone(ResourceKind::Volume, ResourceId("v-1".into())),
        ];
        all.extend(errors().into_iter().map(Answer::Failed));
        all
    }

    #[test]
    fn every_case_ends_or_comes_back_later_never_at_once() {
        for kind in KINDS {
            for state in STATES {
                for answer in answers() {
                    let label = format!("{kind:?} {state:?} {answer:?}");
                    let decision = decide(at(kind, state), answer, LIMITS, 0.5);
                    match decision.then {
                        Then::Done => {
                            assert!(decision.state.is_final(), "{label}: done but {:?}", decision.state)
                        }
                        Then::Poll => assert!(!decision.state.is_final(), "{label}"),
                        Then::Backoff(ms) => {
                            assert!(ms >= 250, "{label}: a retry after {ms} ms");
                            assert!(!decision.state.is_final(), "{label}");
                            assert!(decision.error.is_some(), "{label}: a retry says why");
                        }
                    }
                    if state.is_final() {
                        assert_eq!(
                            (decision.state, decision.then),
                            (state, Then::Done),
                            "{label}: final stays final"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_pending_request_the_provider_refuses_fails_at_once_with_its_reason() {
        for kind in KINDS {
            for error in errors().into_iter().filter(|e| !e.is_retryable()) {
                if matches!(error, ProviderError::Conflict { .. })
                    && matches!(kind, OperationKind::Power(_) | OperationKind::ResourceAction)
                {
                    continue; // waited for in background, below
                }
                let decision =
                    decide(at(kind, OperationState::Pending), Answer::Failed(error.clone()), LIMITS, 0.0);
                assert_eq!(decision.state, OperationState::Failed, "{kind:?} {error:?}");
                assert_eq!(decision.error.as_ref().map(|e| e.code), Some(error.code()));
            }
        }
    }

    #[test]
    fn outages_back_off_with_jitter_then_give_up_at_the_cap() {
        let down = || Answer::Failed(ProviderError::unavailable("down"));
        let first = decide(at(OperationKind::Create, OperationState::Pending), down(), LIMITS, 0.0);
        assert_eq!(first.then, Then::Backoff(500));
        assert_eq!(first.state, OperationState::Pending);
        let jittered = decide(at(OperationKind::Create, OperationState::Pending), down(), LIMITS, 0.99);
        assert!(matches!(jittered.then, Then::Backoff(ms) if (250..500).contains(&ms)), "{jittered:?}");
        let last = Situation {
            attempts: LIMITS.max_attempts - 1,
            ..at(OperationKind::Create, OperationState::Pending)
        };
        let gave_up = decide(last, down(), LIMITS, 0.0);
        assert_eq!(gave_up.state, OperationState::Failed);
        assert_eq!(gave_up.error.as_ref().map(|e| e.code), Some(ErrorCode::AttemptsExhausted));
        assert!(gave_up.error.as_ref().map(|e| e.message.as_str()).is_some_and(|m| m.contains("5 attempts")));
    }

    #[test]
    fn a_refusal_while_following_backs_off_instead_of_looping() {
        // The hot loop this replaces: a revoked token while a create was being polled.
        let revoked =
            ProviderError::Unauthorized { message: "revoked".into(), detail: UpstreamDetail::default() };
        let decision = decide(
            at(OperationKind::Create, OperationState::Running),
            Answer::Failed(revoked.clone()),
            LIMITS,
            0.0,
        );
        assert_eq!(decision.state, OperationState::Running);
        assert_eq!(decision.then, Then::Backoff(500));
        assert!(decision.counts_as_attempt());
        let exhausted = Situation { attempts: 4, ..at(OperationKind::Create, OperationState::Running) };
        let failed = decide(exhausted, Answer::Failed(revoked), LIMITS, 0.0);
        assert_eq!(failed.state, OperationState::Failed);
        let message = failed.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
        assert!(message.contains("credentials"), "the provider's reason is kept: {message}");
    }

    #[test]
    fn an_instance_stuck_past_the_deadline_fails_saying_so() {
        let old = Situation {
            age_ms: LIMITS.deadline_ms + 1,
            ..at(OperationKind::Create, OperationState::Running)
        };
        let decision = decide(old, Answer::CreatePolled { all_running: false }, LIMITS, 0.0);
        assert_eq!(decision.state, OperationState::Failed);
        assert_eq!(decision.error.as_ref().map(|e| e.code), Some(ErrorCode::DeadlineExceeded));
        let slow_action = Situation {
            age_ms: LIMITS.deadline_ms + 1,
            ..at(OperationKind::Power(PowerAction::Reboot), OperationState::Running)
        };
        assert_eq!(
            decide(slow_action, Answer::ActionPolled(ActionStatus::InProgress), LIMITS, 0.0).state,
            OperationState::Failed
        );
    }

    #[test]
    fn deletes_of_what_is_already_gone_succeed_only_after_an_attempt() {
        let gone = || Answer::Failed(ProviderError::not_found("gone"));
        let first = decide(at(OperationKind::Delete, OperationState::Pending), gone(), LIMITS, 0.0);
        assert_eq!(first.state, OperationState::Failed, "never there: the caller asked for nothing");
        let retried = Situation { attempts: 1, ..at(OperationKind::Delete, OperationState::Pending) };
        assert_eq!(decide(retried, gone(), LIMITS, 0.0).state, OperationState::Succeeded);
    }

    #[test]
    fn a_busy_instance_is_waited_for_in_background_and_reported_inline() {
        let busy = || {
            Answer::Failed(ProviderError::Conflict {
                message: "busy".into(),
                detail: UpstreamDetail::default(),
            })
        };
        let power = OperationKind::Power(PowerAction::PowerOn);
        let background = decide(at(power, OperationState::Pending), busy(), LIMITS, 0.0);
        assert_eq!((background.state, background.then), (OperationState::Pending, Then::Backoff(500)));
        let inline = Situation { inline: true, ..at(power, OperationState::Pending) };
        assert_eq!(decide(inline, busy(), LIMITS, 0.0).state, OperationState::Failed);
    }

    #[test]
    fn kinds_keep_their_stored_names() {
        for kind in KINDS {
            assert_eq!(OperationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(OperationKind::parse("resize"), None);
    }
}
