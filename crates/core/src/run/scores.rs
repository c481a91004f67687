//! Scores: the post-attempt command, what it merges into result.json, verified and unverified bests.

use camino::Utf8Path;
use harnessgym_scoring::{
    OptimizationInput, PostCommand, extract_score, is_better, optimization_block, post_command_passed,
    reached_stop_score, run_post_command,
};
use harnessgym_types::post::PostRecord;
use harnessgym_types::result::is_solved_and_verified;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::result_file::ResultFile;

use crate::events::RunEvent;

use super::Loop;

impl Loop {
    pub(super) async fn post(
        &self,
        log_dir: &Utf8Path,
        prefix: &str,
        cancel: watch::Receiver<bool>,
    ) -> Option<PostRecord> {
        let cfg = self.cfg();
        let command = cfg.options.post_attempt.command.as_deref()?;
        let _slot = match &self.run.score_gate {
            Some(gate) => Some(gate.acquire().await),
            None => None,
        };
        Some(
            run_post_command(
                &PostCommand {
                    command,
                    cwd: &self.ws,
                    log_dir,
                    prefix,
                    timeout: cfg.options.post_attempt.timeout.duration(),
                    score_key: cfg.post_attempt_score_key(),
                    remote: cfg.post_attempt_remote.as_ref(),
                },
                cancel,
            )
            .await,
        )
    }

    pub(super) fn note_unverified(&mut self, score: f64) {
        if is_better(score, self.best_unverified, self.opts().higher_is_better) {
            self.best_unverified = Some(score);
        }
    }

    pub(super) fn post_configured(&self) -> bool {
        self.opts().post_attempt.command.is_some()
    }

    /// Solved by the agent's result and, when a post command is configured, verified by it.
    pub(super) fn solved_verified(&self, doc: &Map<String, Value>, post: Option<&PostRecord>) -> bool {
        is_solved_and_verified(doc) && (!self.post_configured() || post.is_some_and(post_command_passed))
    }

    /// The update merged into result.json after the post-attempt command.
    pub(super) fn post_update(&self, record: &PostRecord, passed: bool, agent_status: Option<&str>) -> Value {
        let cfg = self.opts();
        let mut verification = json!({
            "status": if passed { "passed" } else { record.status.as_str() },
            "command": record.command,
            "return_code": record.return_code,
            "timed_out": record.timed_out,
            "stdout_path": record.stdout_path,
            "stderr_path": record.stderr_path,
        });
        let mut update = json!({ "post_attempt": record });
        if let (Some(score), Some(v)) = (record.score, verification.as_object_mut()) {
            v.insert(cfg.score_key.clone(), json!(score));
            v.insert("score".into(), json!(score));
            if passed {
                // Only a passing check's score becomes the iteration's metric (bug B2).
                update["metrics"] = json!({ cfg.score_key.clone(): score, cfg.post_attempt_score_key().to_owned(): score, "score": score });
            }
        }
        update["verification"] = verification;
        let verified_score = if passed { record.score } else { None };
        if cfg.optimization_mode {
            let block = optimization_block(&OptimizationInput {
                score_key: &cfg.score_key,
                higher_is_better: cfg.higher_is_better,
                baseline_score: self.baseline_score,
                previous_best_score: self.best_verified,
                current_score: verified_score,
                stop_score: cfg.stop_score,
            });
            update["optimization"] = Value::Object(block);
            if passed {
                let reached = reached_stop_score(verified_score, cfg.stop_score, cfg.higher_is_better);
                let improved = verified_score
                    .zip(self.baseline_score)
                    .is_some_and(|(s, b)| is_better(s, Some(b), cfg.higher_is_better));
                let status = if reached {
                    "solved"
                } else if improved {
                    "improved"
                } else {
                    "verified"
                };
                update["status"] = json!(status);
            }
        } else if passed && !cfg.attempt_only {
            // A compare trial (attempt-only) runs its iterations to the end unless the agent
            // itself says solved (then verified) or the stop score is reached: a passing
            // benchmark verifies, it does not end an optimisation.
            update["status"] = json!("solved");
        }
        // A configured check is authoritative: a failed one overrides the agent's claim (bug B4).
        update["verified"] = json!(passed);
        if !passed && agent_status == Some("solved") {
            update["status"] = json!("incomplete");
            update["agent_claimed_status"] = json!("solved");
        }
        update
    }

    pub(super) fn track_scores(
        &mut self,
        iteration: u32,
        doc: &Map<String, Value>,
        post: Option<&PostRecord>,
        verified: Option<f64>,
        result: &mut ResultFile,
    ) {
        let hib = self.opts().higher_is_better;
        let claimed = match post {
            Some(record) => record.score,
            None if self.opts().post_attempt.command.is_some() => None,
            None => extract_score(&Value::Object(doc.clone()), &self.opts().score_key),
        };
        if let (Some(score), None) = (claimed, verified) {
            self.note_unverified(score);
        }
        if let Some(score) = verified
            && is_better(score, self.best_verified, hib)
        {
            self.best_verified = Some(score);
            if self.opts().optimization_mode && self.checkpoint.enabled {
                self.capture_checkpoint(iteration, Some(score), "post_attempt_best_score", Some(result));
            }
        }
        if let Some(score) = verified.or(claimed) {
            let best = self.best_verified;
            self.emit(RunEvent::Scored { iteration, score, verified: verified.is_some(), best });
        }
    }
}
