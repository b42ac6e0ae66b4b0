//! Dotted parameter paths (`encoder.embedder.tokens.weight`) built while burn walks a module,
//! so rules can pick parameters by regular expression as AllenNLP's did.

/// The stack of module names entered so far.
#[derive(Debug, Default)]
pub(crate) struct PathStack(Vec<String>);

impl PathStack {
    pub fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }

    pub fn exit(&mut self) {
        self.0.pop();
    }

    pub fn path(&self) -> String {
        self.0.join(".")
    }
}
