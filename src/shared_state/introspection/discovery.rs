//! The introspection endpoint found from the issuer's metadata (`introspection_endpoint`),
//! through the discovery every remote endpoint shares ([`crate::shared_state::discovery`]).

use super::{Event, Introspections};
use crate::capabilities::Host;
use crate::engine::Engine;
use crate::providers::introspection::endpoint::Located;
use crate::providers::introspection::Introspector;
use crate::shared_state::discovery::{Discovered, Site};

impl Discovered for Introspector {
    fn located(&self) -> &Located {
        &self.located
    }
}

/// The providers with an endpoint to discover, as sites, with their provider indexes.
fn sites(engine: &Engine) -> (Vec<Site<'_>>, Vec<usize>) {
    engine
        .config()
        .providers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let s = p.check.introspection()?;
            s.located.discovery.as_ref()?;
            let site = Site {
                label: format!("provider {}", p.name),
                member: "introspection_endpoint",
                target: s,
            };
            Some((site, i))
        })
        .unzip()
}

impl Introspections {
    /// On the tick: uses the endpoints other workers discovered, and reads the metadata that
    /// is due and that no other worker has leased.
    pub fn sync(&self, host: &dyn Host, engine: &Engine) {
        let (sites, _) = sites(engine);
        self.metadata.sync(host, &sites);
    }

    /// The answer to metadata call `id`, if it was one. See
    /// [`crate::shared_state::discovery::MetadataCalls::on_response`].
    pub(super) fn on_metadata(
        &self,
        host: &dyn Host,
        engine: &Engine,
        id: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> Option<Option<Event>> {
        let (sites, providers) = sites(engine);
        let read = self.metadata.on_response(host, &sites, id, status, body)?;
        Some(read.and_then(|(i, ok)| Some(Event::Discovered(*providers.get(i)?, ok))))
    }
}
