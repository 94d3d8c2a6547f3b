// ttrpc_peer is the Go side of the ttRPC interop tests and benchmark. It uses
// containerd's own ttrpc package and task v2 service types:
//
//	ttrpc_peer server SOCKET          serve the test Task service (prints READY)
//	ttrpc_peer check SOCKET [skip-over-reply]  run the interop checks as a client, print JSON
//	ttrpc_peer bench SOCKET C N [state|connect]  C connections, N calls each, print JSON stats
//
// The test Task service (same behaviour as tests/interop/task_service.ts):
// State echoes the id, reports the namespace metadata in bundle and whether a
// deadline was set in pid (an exec id "big:N" asks for an N-byte bundle);
// Wait blocks until the call's context ends; Kill fails with status code =
// signal; Connect answers fixed values; everything else is Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/runtime/v2/task"
	"github.com/containerd/ttrpc"
	ptypes "github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const namespaceKey = "containerd-namespace-ttrpc"

type service struct{}

func (service) State(ctx context.Context, r *task.StateRequest) (*task.StateResponse, error) {
	res := &task.StateResponse{ID: r.ID, Stdin: r.ExecID}
	if strings.HasPrefix(r.ExecID, "big:") {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.ExecID, "big:"))
		res.Bundle = strings.Repeat("b", n)
	} else if md, ok := ttrpc.GetMetadata(ctx); ok {
		vals, _ := md.Get(namespaceKey)
		res.Bundle = strings.Join(vals, ",")
	}
	if _, ok := ctx.Deadline(); ok {
		res.Pid = 1
	}
	return res, nil
}

func (service) Wait(ctx context.Context, r *task.WaitRequest) (*task.WaitResponse, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		return &task.WaitResponse{ExitStatus: 0}, nil
	}
}

func (service) Kill(ctx context.Context, r *task.KillRequest) (*ptypes.Empty, error) {
	return nil, status.Errorf(codes.Code(r.Signal), "kill %s", r.ID)
}

func (service) Connect(ctx context.Context, r *task.ConnectRequest) (*task.ConnectResponse, error) {
	return &task.ConnectResponse{ShimPid: 4242, TaskPid: 7, Version: "go"}, nil
}

func unimplemented() error { return status.Errorf(codes.Unimplemented, "not implemented") }

func (service) Create(context.Context, *task.CreateTaskRequest) (*task.CreateTaskResponse, error) {
	return nil, unimplemented()
}
func (service) Start(context.Context, *task.StartRequest) (*task.StartResponse, error) {
	return nil, unimplemented()
}
func (service) Delete(context.Context, *task.DeleteRequest) (*task.DeleteResponse, error) {
	return nil, unimplemented()
}
func (service) Pids(context.Context, *task.PidsRequest) (*task.PidsResponse, error) {
	return nil, unimplemented()
}
func (service) Pause(context.Context, *task.PauseRequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}
func (service) Resume(context.Context, *task.ResumeRequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}
func (service) Checkpoint(context.Context, *task.CheckpointTaskRequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}
func (service) Exec(context.Context, *task.ExecProcessRequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}
func (service) ResizePty(context.Context, *task.ResizePtyRequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}
func (service) CloseIO(context.Context, *task.CloseIORequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}
func (service) Update(context.Context, *task.UpdateTaskRequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}
func (service) Stats(context.Context, *task.StatsRequest) (*task.StatsResponse, error) {
	return nil, unimplemented()
}
func (service) Shutdown(context.Context, *task.ShutdownRequest) (*ptypes.Empty, error) {
	return nil, unimplemented()
}

func serve(path string) error {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	s, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	task.RegisterTaskService(s, service{})
	fmt.Println("READY")
	return s.Serve(context.Background(), l)
}

func dial(path string) (*ttrpc.Client, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	return ttrpc.NewClient(conn), nil
}

// outcome describes a call result in a form both languages can compare.
type outcome struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func outcomeOf(err error) outcome {
	if err == nil {
		return outcome{}
	}
	if err == context.DeadlineExceeded {
		return outcome{Code: int(codes.DeadlineExceeded), Message: err.Error()}
	}
	st, _ := status.FromError(err)
	return outcome{Code: int(st.Code()), Message: st.Message()}
}

func orEmpty(st *task.StateResponse) *task.StateResponse {
	if st == nil {
		return &task.StateResponse{}
	}
	return st
}

func check(path string, skipOverReply bool) error {
	client, err := dial(path)
	if err != nil {
		return err
	}
	defer client.Close()
	tc := task.NewTaskClient(client)
	bg := context.Background()
	md := ttrpc.MD{}
	md.Set(namespaceKey, "ns1", "ns2")
	mdctx := ttrpc.WithMetadata(bg, md)
	out := map[string]interface{}{}

	st, err := tc.State(mdctx, &task.StateRequest{ID: "c1", ExecID: "e1"})
	st = orEmpty(st)
	out["state"] = map[string]interface{}{"outcome": outcomeOf(err), "id": st.ID, "bundle": st.Bundle, "pid": st.Pid, "stdin": st.Stdin}

	dctx, cancel := context.WithTimeout(bg, 5*time.Second)
	st, err = tc.State(dctx, &task.StateRequest{ID: "d"})
	st = orEmpty(st)
	cancel()
	out["stateWithDeadline"] = map[string]interface{}{"outcome": outcomeOf(err), "pid": st.Pid}

	var wg sync.WaitGroup
	var mu sync.Mutex
	correct := 0
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("id-%d", i)
			r, err := tc.State(bg, &task.StateRequest{ID: id})
			if err == nil && r.ID == id {
				mu.Lock()
				correct++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	out["concurrentCorrect"] = correct

	near := strings.Repeat("n", 4<<20-1024)
	st, err = tc.State(bg, &task.StateRequest{ID: near})
	st = orEmpty(st)
	out["near"] = map[string]interface{}{"outcome": outcomeOf(err), "len": len(st.ID)}

	_, err = tc.State(bg, &task.StateRequest{ID: strings.Repeat("o", 4<<20+100)})
	out["overRequest"] = outcomeOf(err)

	if !skipOverReply {
		// Go ttrpc 1.1.1's client panics on an oversized reply from a Go server, hence the switch.
		_, err = tc.State(bg, &task.StateRequest{ID: "x", ExecID: fmt.Sprintf("big:%d", 4<<20+100)})
		out["overReply"] = outcomeOf(err)
	}

	st, err = tc.State(bg, &task.StateRequest{ID: "after"})
	st = orEmpty(st)
	out["afterOver"] = map[string]interface{}{"outcome": outcomeOf(err), "id": st.ID}

	_, err = tc.Kill(bg, &task.KillRequest{ID: "c1", Signal: 5})
	out["kill"] = outcomeOf(err)

	_, err = tc.Pause(bg, &task.PauseRequest{ID: "c1"})
	out["pause"] = outcomeOf(err)

	err = client.Call(bg, "no.Such", "Method", &task.StateRequest{}, &task.StateResponse{})
	out["unknownService"] = outcomeOf(err)

	err = client.Call(bg, "containerd.task.v2.Task", "NoMethod", &task.StateRequest{}, &task.StateResponse{})
	out["unknownMethod"] = outcomeOf(err)

	wctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	_, err = tc.Wait(wctx, &task.WaitRequest{ID: "c1"})
	cancel()
	out["waitDeadline"] = outcomeOf(err)

	cr, err := tc.Connect(bg, &task.ConnectRequest{ID: "c1"})
	if cr == nil {
		cr = &task.ConnectResponse{}
	}
	out["connect"] = map[string]interface{}{"outcome": outcomeOf(err), "shimPid": cr.ShimPid, "taskPid": cr.TaskPid, "version": cr.Version}

	return json.NewEncoder(os.Stdout).Encode(out)
}

// bench makes calls of State (the test service) or Connect (which the real shim server
// answers without any container) back to back on each connection.
func bench(path string, conns, calls int, method string) error {
	call := func(tc task.TaskService, id string) error {
		if method == "connect" {
			_, err := tc.Connect(context.Background(), &task.ConnectRequest{ID: id})
			return err
		}
		_, err := tc.State(context.Background(), &task.StateRequest{ID: id, ExecID: "e"})
		return err
	}
	clients := make([]task.TaskService, conns)
	for i := range clients {
		c, err := dial(path)
		if err != nil {
			return err
		}
		defer c.Close()
		clients[i] = task.NewTaskClient(c)
	}
	// Warm up each connection.
	for _, tc := range clients {
		for i := 0; i < 200; i++ {
			if err := call(tc, "warm"); err != nil {
				return err
			}
		}
	}
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for i, tc := range clients {
		wg.Add(1)
		go func(i int, tc task.TaskService) {
			defer wg.Done()
			l := make([]time.Duration, 0, calls)
			for j := 0; j < calls; j++ {
				t := time.Now()
				if err := call(tc, "bench"); err != nil {
					errs <- err
					return
				}
				l = append(l, time.Since(t))
			}
			lat[i] = l
		}(i, tc)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	all := []time.Duration{}
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	return json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"calls":     len(all),
		"p50Us":     us(all[len(all)/2]),
		"p99Us":     us(all[len(all)*99/100]),
		"perSecond": float64(len(all)) / elapsed.Seconds(),
	})
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ttrpc_peer server|check|bench SOCKET [CONNS CALLS]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = serve(os.Args[2])
	case "check":
		err = check(os.Args[2], len(os.Args) > 3 && os.Args[3] == "skip-over-reply")
	case "bench":
		if len(os.Args) < 5 {
			err = fmt.Errorf("bench needs CONNS and CALLS")
			break
		}
		conns, _ := strconv.Atoi(os.Args[3])
		calls, _ := strconv.Atoi(os.Args[4])
		method := "state"
		if len(os.Args) > 5 {
			method = os.Args[5]
		}
		err = bench(os.Args[2], conns, calls, method)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ttrpc_peer:", err)
		os.Exit(1)
	}
}
