//! Which workspace paths an attempt changed, learned from the descriptors it wrote through:
//! capture then examines only those.

use std::collections::HashMap;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::filesystem::types;
use wtb_core::model::{Touched, join_path};

/// The workspace path of every open descriptor, and the paths the attempt changed.
#[derive(Debug, Default)]
pub struct TouchLog {
    /// Descriptor (resource rep) → its workspace path; `None` outside the workspace (a
    /// fixture) or not nameable. Descriptors not in the map are of unknown origin.
    pub(crate) descriptors: HashMap<u32, Option<String>>,
    /// What changed.
    pub touched: Touched,
}

impl TouchLog {
    /// Notes the preopened directories: the workspace is the one at `/`.
    pub fn preopened(&mut self, dirs: &[(Resource<types::Descriptor>, String)]) {
        for (fd, guest_path) in dirs {
            self.descriptors.insert(fd.rep(), (guest_path == "/").then(String::new));
        }
    }

    /// The workspace path of `rel` under descriptor `fd`, if it can be named.
    pub(crate) fn path(&self, fd: &Resource<types::Descriptor>, rel: &str) -> Option<String> {
        join_path(self.descriptors.get(&fd.rep())?.as_deref()?, rel)
    }

    /// Records a change at `rel` under `fd` (a change that cannot be named marks everything).
    pub(crate) fn mark(&mut self, fd: &Resource<types::Descriptor>, rel: &str) {
        let path = self.path(fd, rel);
        self.touched.mark(path);
    }
}
