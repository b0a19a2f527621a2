package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lodestone-bt/lodestone/client"
)

const waitUsage = `usage: lodestone wait [flags]

Waits until the daemon answers on --api-addr (a daemon just started in the
background, e.g. in a script), then exits 0; exits 1 after --timeout, or
at once if the daemon refuses the token.
`

// waitRetry is the pause between two attempts to reach the daemon.
const waitRetry = 100 * time.Millisecond

func runWait(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("wait")
	var common commonFlags
	common.register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this `duration`")
	pos, err := e.parse(fs, args, waitUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for {
		// The token file may appear only once the daemon has started.
		c, err := common.dial(ctx, e)
		if err == nil {
			_, err = c.ServerInfo(ctx)
			c.Close()
			if err == nil {
				return nil
			}
		}
		var he *client.HandshakeError
		if errors.As(err, &he) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no daemon answered within %s: %w", *timeout, err)
		case <-time.After(waitRetry):
		}
	}
}
