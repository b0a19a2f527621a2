// Package readme holds no code: its test runs the README's first session
// (the fenced blocks marked first-session) as written, with a real
// lodestone binary on loopback, and checks the output shown (issue 19).
package readme
