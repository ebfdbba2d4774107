//! Typed access to a node's attributes.

use crate::proto::{AttributeProto, NodeProto};

pub(crate) struct Attrs<'a>(&'a [AttributeProto]);

impl<'a> Attrs<'a> {
    pub fn of(node: &'a NodeProto) -> Self {
        Self(&node.attribute)
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.iter().find(|a| a.name() == name)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|a| a.i)
    }

    pub fn float(&self, name: &str) -> Option<f32> {
        self.get(name).and_then(|a| a.f)
    }

    pub fn ints(&self, name: &str) -> Option<&'a [i64]> {
        self.get(name)
            .map(|a| a.ints.as_slice())
            .filter(|v| !v.is_empty())
    }

    pub fn floats(&self, name: &str) -> Option<&'a [f32]> {
        self.get(name)
            .map(|a| a.floats.as_slice())
            .filter(|v| !v.is_empty())
    }

    pub fn string(&self, name: &str) -> Option<&'a str> {
        self.get(name)
            .and_then(|a| a.s.as_deref())
            .and_then(|s| std::str::from_utf8(s).ok())
    }

    pub fn tensor(&self, name: &str) -> Option<&'a crate::proto::TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }

    pub fn graph(&self, name: &str) -> Option<&'a crate::proto::GraphProto> {
        self.get(name).and_then(|a| a.g.as_ref())
    }
}
