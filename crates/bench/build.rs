//! Generates the gRPC side of `aviary-bench transport` from proto/; protoc
//! comes vendored, so the build needs nothing installed.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("a vendored protoc for this platform");
    // SAFETY: the build script is single-threaded at this point; nothing
    // else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=../../proto/transport_bench.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["../../proto/transport_bench.proto"], &["../../proto"])
        .expect("proto/transport_bench.proto compiles");
}
