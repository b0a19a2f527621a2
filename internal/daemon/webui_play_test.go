package daemon_test

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// wav returns a mono 16-bit PCM WAV file of a 440 Hz tone.
func wav(rate, seconds int) []byte {
	n := rate * seconds
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16) // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)  // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)  // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate)) // bytes per second
	binary.LittleEndian.PutUint16(b[32:], 2)              // block align
	binary.LittleEndian.PutUint16(b[34:], 16)             // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}

// TestStreamPlaysWhileDownloading plays a streamed file in Chromium's
// media player while its task is still downloading: the point of
// GET /files.
func TestStreamPlaysWhileDownloading(t *testing.T) {
	// 4 minutes of 8 kHz audio, 3.8 MB, from a seeder sending 256 KiB/s:
	// about 15 s to download, while playing needs its first kilobytes.
	tr := enginetest.Generate(t, enginetest.Content{Name: "tone.wav", Data: wav(8000, 240), PieceLength: 64 << 10})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 256 << 10}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	// Log in through the UI first (it gets the session cookie), so the
	// download has not begun while the browser starts.
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()

	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskMetadata, 30*time.Second, forTask(res.TaskID))
	// Open the file the way a user clicking it in the files list does.
	b.open("/files/" + res.TaskID + "/tone.wav")
	b.waitJS("the media player", `document.querySelector('audio, video') !== null`, 20*time.Second)
	// Headless Chromium starts playback only for a user's gesture.
	gesture := func(p *runtime.EvaluateParams) { t := true; p.UserGesture = &t }
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(() => { const m = document.querySelector('audio, video'); m.muted = true; return m.play(); })()`, chromedp.EvalAwaitPromise, gesture)); err != nil {
		t.Fatalf("play: %v", err)
	}
	b.waitJS("two seconds played", `document.querySelector('audio, video').currentTime >= 2`, 30*time.Second)
	task, err := c.GetTask(ctxT(t, 10*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != api.StateDownloading || task.Completed >= task.Size {
		t.Fatalf("after 2 s of playback the task is %s with %d of %d bytes: it should still be downloading", task.State, task.Completed, task.Size)
	}
	t.Logf("2 s played with %d of %d bytes downloaded", task.Completed, task.Size)
	// And the bytes played are the file's: the player's duration is the
	// tone's (it read the header), and the download completes intact.
	if dur := evalJS[float64](b, `document.querySelector('audio, video').duration`); math.Abs(dur-240) > 0.5 {
		t.Errorf("the player's duration is %v s, want 240", dur)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}
