package keyring

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
)

// TokenKey is the key of the cluster's API token in membership.ClusterBucket.
const TokenKey = "token"

// ErrTokenMismatch is what a *TokenMismatchError is (errors.Is).
var ErrTokenMismatch = errors.New("keyring: this node's token differs from the cluster's")

// TokenMismatchError is returned by Token when this node's token was given
// explicitly and differs from the cluster's. Its message is meant for the
// user who started the node: it says what is wrong and how to fix it.
type TokenMismatchError struct {
	// Cluster is the cluster's name, "" if it could not be read.
	Cluster string
}

func (e *TokenMismatchError) Error() string {
	name := "the cluster"
	if e.Cluster != "" {
		name = fmt.Sprintf("cluster %q", e.Cluster)
	}
	return fmt.Sprintf("this node's token (--token, --token-file or LODESTONE_TOKEN) differs from %s's: "+
		"give every node the same token, or none (a node without one adopts the cluster's)", name)
}

// Is makes errors.Is(err, ErrTokenMismatch) true.
func (e *TokenMismatchError) Is(target error) bool { return target == ErrTokenMismatch }

// clusterBucketConfig is membership's configuration of ClusterBucket, used
// when Token runs before membership created the bucket; the same config
// makes the two creations agree whoever comes first.
func clusterBucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket: membership.ClusterBucket, History: 1, Replicas: replicas,
		Description: "Lodestone cluster name and drain flags",
	}
}

// Token settles the cluster's API token, stored under TokenKey in
// membership.ClusterBucket, and returns the token this node must serve.
// The first node to get there stores local with an atomic create. On a later
// node, a local token equal to the cluster's is fine; a generated one
// (given false: the data dir's token file) gives way to the cluster's, which
// is returned (the caller rewrites its token file, so the CLI on this host
// still logs in); one given explicitly (--token, --token-file,
// LODESTONE_TOKEN: given true) that differs is a *TokenMismatchError, whose
// message says how to fix it. Replicas is the bucket's replica count if
// Token creates it. Passing JetStream errors are retried until ctx ends.
func Token(ctx context.Context, js jetstream.JetStream, replicas int, local string, given bool) (string, error) {
	if local == "" {
		return "", errors.New("keyring: this node has no token")
	}
	if replicas == 0 {
		replicas = 1
	}
	kv, err := bucket(ctx, js, clusterBucketConfig(replicas))
	if err != nil {
		return "", err
	}
	for {
		cluster, err := settleToken(ctx, kv, local)
		if err == nil {
			if subtle.ConstantTimeCompare([]byte(cluster), []byte(local)) == 1 || !given {
				return cluster, nil
			}
			mismatch := &TokenMismatchError{}
			// membership stores the cluster's name under "name".
			if e, err := kv.Get(ctx, "name"); err == nil {
				mismatch.Cluster = string(e.Value())
			}
			return "", mismatch
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("keyring: cluster token: %w", err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("keyring: cluster token: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// settleToken stores local as the cluster's token if there is none yet,
// and returns the cluster's token.
func settleToken(ctx context.Context, kv jetstream.KeyValue, local string) (string, error) {
	if _, err := kv.Create(ctx, TokenKey, []byte(local)); err == nil {
		return local, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", err
	}
	e, err := kv.Get(ctx, TokenKey)
	if err != nil {
		// ErrKeyNotFound: deleted between the two calls; the retry
		// creates it again.
		return "", err
	}
	return string(e.Value()), nil
}

// bucket binds a bucket, or creates it with c if it does not exist. A fresh
// JetStream cluster may answer "temporarily unavailable" for a moment; it
// retries until ctx ends, except on an error that waiting cannot cure.
func bucket(ctx context.Context, js jetstream.JetStream, c jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	for {
		// Each attempt is bounded: a create racing other nodes' may
		// never be answered (see bus.streamAttempt).
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		kv, err := js.KeyValue(actx, c.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(actx, c)
			if errors.Is(err, jetstream.ErrBucketExists) {
				// Created by another node in between, maybe with
				// another description: bind it.
				kv, err = js.KeyValue(actx, c.Bucket)
			}
		}
		cancel()
		if err == nil {
			return kv, nil
		}
		if permanent(err) {
			return nil, fmt.Errorf("keyring: bucket %s: %w", c.Bucket, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("keyring: bucket %s: %w", c.Bucket, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// jsReplicasNotSupported is the server's error code for replicas > 1 on a
// server that is not clustered.
const jsReplicasNotSupported = 10074

// permanent reports whether a JetStream error is one that waiting cannot
// cure: more replicas than a standalone server has. Most others are worth
// waiting for, even some 400s: a fresh cluster answers "no suitable peers
// for placement" (10005) until its servers know each other.
func permanent(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && ae.ErrorCode == jsReplicasNotSupported
}

// attemptTimeout bounds one attempt to bind or create a bucket.
const attemptTimeout = 4 * time.Second
