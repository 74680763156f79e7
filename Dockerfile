# authgate as an OCI image for Istio's WasmPlugin (url: oci://<registry>/authgate:<tag>).
# Istio's Wasm image spec, "compat" variant: an image FROM scratch whose only content is the
# module, named plugin.wasm, at the root. Istio pulls the image and reads that file; nothing
# here ever runs. Build dist/authgate.wasm first (./build.sh), then:
#   docker build -t <registry>/authgate:<version> . && docker push <registry>/authgate:<version>
# See istio/README.md.
FROM scratch
COPY dist/authgate.wasm ./plugin.wasm
