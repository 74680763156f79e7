//! The `basic` provider's configuration section exactly as users write it.

use crate::schema::decode::raw_struct;

raw_struct! {
    /// `type: basic`. Its `Debug` leaves the htpasswd text out.
    pub struct RawBasic {
        /// `user:hash` lines, bcrypt or `{SHA}`.
        pub htpasswd: String,
        /// Header that receives the authenticated user name upstream.
        pub forward_username_header: Option<String>,
        /// Remove the `Authorization` header before the request goes upstream (default false).
        pub hide_credentials: Option<bool>,
    }
}

impl std::fmt::Debug for RawBasic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBasic")
            .field("forward_username_header", &self.forward_username_header)
            .field("hide_credentials", &self.hide_credentials)
            .finish_non_exhaustive()
    }
}
