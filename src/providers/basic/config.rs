//! The `basic` provider's configuration section exactly as users write it.

use serde::Deserialize;

/// `type: basic`. Its `Debug` leaves the htpasswd text out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasic {
    /// `user:hash` lines, bcrypt or `{SHA}`.
    pub htpasswd: String,
    /// Header that receives the authenticated user name upstream.
    #[serde(default)]
    pub forward_username_header: Option<String>,
    /// Remove the `Authorization` header before the request goes upstream (default false).
    #[serde(default)]
    pub hide_credentials: Option<bool>,
}

impl std::fmt::Debug for RawBasic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBasic")
            .field("forward_username_header", &self.forward_username_header)
            .field("hide_credentials", &self.hide_credentials)
            .finish_non_exhaustive()
    }
}
