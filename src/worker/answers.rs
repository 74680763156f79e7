//! Headers an answer gets on its way back, decided with the request: a DPoP server nonce that
//! replaces the client's before it ends (RFC 9449 §8.2). The adapters add them when the
//! upstream's answer headers pass.

use crate::engine::Verdict;
use std::cell::RefCell;

/// Header names and values.
type Headers = Vec<(String, String)>;

/// The headers kept for answers, by request id.
#[derive(Default)]
pub(super) struct AnswerHeaders(RefCell<Vec<(u32, Headers)>>);

impl AnswerHeaders {
    /// Request `id` was decided: keep what its answer must carry.
    pub(super) fn note(&self, verdict: &Verdict, id: u32) {
        let Verdict::Allow(a) = verdict else {
            return;
        };
        if let Some(nonce) = a.proof.as_ref().and_then(|p| p.renew.clone()) {
            self.0.borrow_mut().push((
                id,
                vec![
                    ("dpop-nonce".into(), nonce),
                    ("access-control-expose-headers".into(), "DPoP-Nonce".into()),
                ],
            ));
        }
    }

    /// What the answer to request `id` must carry, once.
    pub(super) fn take(&self, id: u32) -> Headers {
        let mut all = self.0.borrow_mut();
        match all.iter().position(|(i, _)| *i == id) {
            Some(i) => all.swap_remove(i).1,
            None => Vec::new(),
        }
    }

    /// Request `id` ended.
    pub(super) fn forget(&self, id: u32) {
        self.0.borrow_mut().retain(|(i, _)| *i != id);
    }
}
