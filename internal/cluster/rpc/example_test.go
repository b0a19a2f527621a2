package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/rpc"
)

// Node "b" serves reads; any node asks it with Call. An *api.Error from
// b's handler arrives with its code.
func ExampleCall() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rpc-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	nd, err := natsnode.Start(ctx, natsnode.Options{Name: "b", StoreDir: dir})
	if err != nil {
		panic(err)
	}
	defer nd.Shutdown()

	stop, err := rpc.Serve(ctx, nd.Conn, "lodestone", "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		if method == "task.get" {
			return nil, &api.Error{Code: api.CodeTaskNotFound, Message: "no such task"}
		}
		return json.RawMessage(`{"tasks":[]}`), nil
	}, nil)
	if err != nil {
		panic(err)
	}
	defer stop()

	res, err := rpc.Call(ctx, nd.Conn, "lodestone", "b", "task.list", nil)
	fmt.Println(string(res), err)
	_, err = rpc.Call(ctx, nd.Conn, "lodestone", "b", "task.get", json.RawMessage(`{"task_id":"00"}`))
	var ae *api.Error
	fmt.Println(errors.As(err, &ae), int(ae.Code), ae.Message)
	_, err = rpc.Call(ctx, nd.Conn, "lodestone", "c", "task.list", nil)
	fmt.Println(err)
	// Output:
	// {"tasks":[]} <nil>
	// true 202 no such task
	// node_unavailable: node c did not answer: no responders: it is not running or not connected to NATS
}
