package report

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/gracekit/gracekit/bench/internal/scenario"
)

var (
	okColor      = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	failColor    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	restartColor = color.RGBA{R: 120, G: 120, B: 120, A: 255}
)

// Timeline draws one lane per subject: requests answered per second on
// top, failures per second below, a dashed line at each restart signal.
// It writes a PNG to path.
func Timeline(path string, lanes []*scenario.Lane) error {
	if len(lanes) == 0 {
		return fmt.Errorf("timeline: no lanes")
	}
	xmax := 0.0
	for _, l := range lanes {
		xmax = max(xmax, float64(len(l.Buckets))*l.Width.Seconds())
	}
	const (
		width = 26 * vg.Centimeter
		rowH  = 4 * vg.Centimeter
	)
	rows := make([][]*plot.Plot, 0, 2*len(lanes))
	for _, l := range lanes {
		top, bottom, err := lanePlots(l, xmax)
		if err != nil {
			return err
		}
		rows = append(rows, []*plot.Plot{top}, []*plot.Plot{bottom})
	}
	img := vgimg.New(width, rowH*vg.Length(len(rows)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	canvases := plot.Align(rows, tiles, dc)
	for i, row := range rows {
		row[0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("timeline: %w", err)
	}
	return f.Close()
}

// lanePlots builds the two plots of a lane.
func lanePlots(l *scenario.Lane, xmax float64) (*plot.Plot, *plot.Plot, error) {
	per := 1 / l.Width.Seconds()
	ok := make(plotter.XYs, len(l.Buckets))
	bad := make(plotter.XYs, len(l.Buckets))
	ymax, fmax := 1.0, 1.0
	failed := 0
	for i, b := range l.Buckets {
		x := (float64(i) + 0.5) * l.Width.Seconds()
		ok[i] = plotter.XY{X: x, Y: float64(b.OK) * per}
		bad[i] = plotter.XY{X: x, Y: float64(b.Failed) * per}
		ymax = max(ymax, ok[i].Y)
		fmax = max(fmax, bad[i].Y)
		failed += b.Failed
	}

	top, err := panel("answered/s", ok, okColor, xmax, ymax*1.1)
	if err != nil {
		return nil, nil, err
	}
	top.Title.Text = fmt.Sprintf("%s: %d restarts, %d failed requests", l.Subject, len(l.Restarts), failed)
	bottom, err := panel("failed/s", bad, failColor, xmax, fmax*1.15)
	if err != nil {
		return nil, nil, err
	}
	bottom.X.Label.Text = "seconds since the start of the block"

	for _, r := range l.Restarts {
		for _, pl := range []*plot.Plot{top, bottom} {
			m, err := plotter.NewLine(plotter.XYs{{X: r.Seconds(), Y: 0}, {X: r.Seconds(), Y: pl.Y.Max}})
			if err != nil {
				return nil, nil, fmt.Errorf("timeline: %w", err)
			}
			m.Color = restartColor
			m.Width = vg.Points(0.6)
			m.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			pl.Add(m)
		}
	}
	return top, bottom, nil
}

// panel is one plot of a lane: a line of xys on a time axis from 0 to
// xmax and a y axis from 0 to ymax.
func panel(ylabel string, xys plotter.XYs, c color.Color, xmax, ymax float64) (*plot.Plot, error) {
	p := plot.New()
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = 0, xmax
	p.X.Tick.Marker = everyTicker(xmax)
	p.Y.Min, p.Y.Max = 0, ymax
	line, err := plotter.NewLine(xys)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	line.Color = c
	p.Add(line)
	return p, nil
}

// stepTicker labels the time axis at a fixed step.
type stepTicker float64

// everyTicker returns a ticker with about ten labelled ticks up to xmax.
func everyTicker(xmax float64) stepTicker {
	for _, step := range []float64{0.5, 1, 2, 5, 10, 20, 30, 60} {
		if xmax/step <= 12 {
			return stepTicker(step)
		}
	}
	return stepTicker(120)
}

// Ticks implements plot.Ticker.
func (t stepTicker) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for i := 0; i < 1000; i++ {
		x := float64(i) * float64(t)
		if x > hi {
			break
		}
		if x >= lo {
			out = append(out, plot.Tick{Value: x, Label: fmt.Sprintf("%g", x)})
		}
	}
	return out
}
