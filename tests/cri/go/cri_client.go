// cri_client calls one CRI method (k8s.io/cri-api runtime.v1) on a containerd
// CRI socket, for the CRI tests: crictl is not packaged for Debian 12.
//
// It carries no generated code: the message types come at run time from a
// descriptor set built from tests/cri/proto (`buf build -o FILE`), requests are
// read as protobuf JSON and responses written as protobuf JSON, so the proto
// subset is the only place that names fields.
//
// Usage: cri_client DESCRIPTORS SOCKET TIMEOUT_SECONDS METHOD JSON
//
//	METHOD is RuntimeService/<Rpc> or ImageService/<Rpc>.
//
// Exit status 0 prints the response; a gRPC error prints "<code>: <message>"
// on stderr and exits 3; bad usage exits 2.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const pkg = "runtime.v1"

// codec marshals the dynamic messages with the v2 protobuf API: grpc's own
// codec in Debian's grpc 1.33 goes through the v1 API.
type codec struct{}

func (codec) Marshal(v interface{}) ([]byte, error) { return proto.Marshal(v.(proto.Message)) }
func (codec) Unmarshal(data []byte, v interface{}) error {
	return proto.Unmarshal(data, v.(proto.Message))
}
func (codec) Name() string { return "proto" }

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}

func main() {
	if len(os.Args) != 6 {
		fail(2, "Usage: cri_client DESCRIPTORS SOCKET TIMEOUT_SECONDS SERVICE/METHOD JSON")
	}
	descPath, socket, method, body := os.Args[1], os.Args[2], os.Args[4], os.Args[5]
	seconds, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fail(2, "Bad timeout %q: %v", os.Args[3], err)
	}
	raw, err := os.ReadFile(descPath)
	if err != nil {
		fail(2, "Cannot read descriptors %s: %v", descPath, err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(raw, set); err != nil {
		fail(2, "Cannot parse descriptors %s: %v", descPath, err)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		fail(2, "Cannot load descriptors %s: %v", descPath, err)
	}
	parts := strings.SplitN(method, "/", 2)
	if len(parts) != 2 {
		fail(2, "Bad method %q: want Service/Method", method)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(pkg + "." + parts[0]))
	if err != nil {
		fail(2, "Unknown service %s: %v", parts[0], err)
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(parts[1]))
	if m == nil {
		fail(2, "Unknown method %s in the proto subset", method)
	}
	req := dynamicpb.NewMessage(m.Input())
	if err := (protojson.UnmarshalOptions{}).Unmarshal([]byte(body), req); err != nil {
		fail(2, "Bad request JSON for %s: %v", method, err)
	}
	resp := dynamicpb.NewMessage(m.Output())

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, socket,
		grpc.WithInsecure(), // a local Unix socket: no TLS
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}),
		grpc.WithBlock())
	if err != nil {
		fail(3, "Unavailable: cannot connect to %s: %v", socket, err)
	}
	defer conn.Close()
	full := "/" + pkg + "." + parts[0] + "/" + parts[1]
	if err := conn.Invoke(ctx, full, req, resp, grpc.ForceCodec(codec{})); err != nil {
		st, _ := status.FromError(err)
		fail(3, "%s: %s", st.Code(), st.Message())
	}
	out, err := (protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}).Marshal(resp)
	if err != nil {
		fail(3, "Cannot encode the %s response: %v", method, err)
	}
	fmt.Println(string(out))
}
