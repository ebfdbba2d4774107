//! Compiles the official `onnx.proto` with a pure-Rust proto compiler (protox),
//! so building needs no `protoc` on the machine.
fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = match protox::compile(["onnx.proto"], ["proto"]) {
        Ok(d) => d,
        Err(e) => panic!("proto/onnx.proto does not compile: {e}"),
    };
    if let Err(e) = prost_build::Config::new().compile_fds(descriptors) {
        panic!("generating Rust code for onnx.proto failed: {e}");
    }
}
