'use client';
import { useEffect, useRef, useState } from 'react';
import {
  CandlestickSeries,
  ColorType,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from 'lightweight-charts';
import { api, ApiError, KLINE_INTERVALS, type Kline, type KlineInterval, type Market } from '@/lib/api';
import { stepDecimals } from '@/lib/decimal';
import { toBar, toBars, type Bar } from '@/lib/format/candles';
import { useChannel, useConnectionState } from '@/lib/hooks/use-socket';
import { describeError } from '@/lib/api/errors';

const UP = '#0ecb81';
const DOWN = '#f6465d';

type Status = 'loading' | 'ready' | 'empty' | 'missing' | 'error';

export function PriceChart({ market }: { market: Market }) {
  const [interval, setInterval_] = useState<KlineInterval>('1m');
  const [status, setStatus] = useState<Status>('loading');
  const [error, setError] = useState<unknown>(null);
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const candles = useRef<ISeriesApi<'Candlestick'> | null>(null);
  const volume = useRef<ISeriesApi<'Histogram'> | null>(null);
  const live = useConnectionState() === 'open';

  useEffect(() => {
    if (!box.current) return;
    const c = createChart(box.current, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: '#161a1e' }, textColor: '#848e9c', fontSize: 11 },
      grid: { vertLines: { color: '#1e2329' }, horzLines: { color: '#1e2329' } },
      rightPriceScale: { borderColor: '#2b3139' },
      timeScale: { borderColor: '#2b3139', timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
    });
    const precision = stepDecimals(market.tick_size);
    candles.current = c.addSeries(CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN, wickUpColor: UP, wickDownColor: DOWN,
      priceFormat: { type: 'price', precision, minMove: Number(market.tick_size) },
    });
    volume.current = c.addSeries(HistogramSeries, { priceScaleId: 'volume', priceFormat: { type: 'volume' }, lastValueVisible: false, priceLineVisible: false });
    c.priceScale('volume').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    c.priceScale('right').applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
    chart.current = c;
    return () => {
      c.remove();
      chart.current = null;
      candles.current = null;
      volume.current = null;
    };
  }, [market.tick_size]);

  function draw(bars: Bar[]) {
    candles.current?.setData(bars.map((b) => ({ time: b.time as UTCTimestamp, open: b.open, high: b.high, low: b.low, close: b.close })));
    volume.current?.setData(bars.map((b) => ({ time: b.time as UTCTimestamp, value: b.volume, color: b.up ? 'rgba(14,203,129,0.45)' : 'rgba(246,70,93,0.45)' })));
  }

  function update(k: Kline) {
    const b = toBar(k);
    if (!b || !candles.current || !volume.current) return;
    try {
      candles.current.update({ time: b.time as UTCTimestamp, open: b.open, high: b.high, low: b.low, close: b.close });
      volume.current.update({ time: b.time as UTCTimestamp, value: b.volume, color: b.up ? 'rgba(14,203,129,0.45)' : 'rgba(246,70,93,0.45)' });
      setStatus('ready');
    } catch {
      /* an older bar than the last one drawn: ignored */
    }
  }

  async function load(first: boolean) {
    if (first) setStatus('loading');
    try {
      const list = await api.klines(market.symbol, interval, 500);
      const bars = toBars(list);
      draw(bars);
      if (first) chart.current?.timeScale().fitContent();
      setStatus(bars.length ? 'ready' : 'empty');
    } catch (e) {
      if (e instanceof ApiError && e.isMissing) setStatus('missing');
      else {
        setError(e);
        setStatus('error');
      }
    }
  }

  useEffect(() => {
    void load(true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [market.symbol, interval]);

  // Without the socket, refresh every 10 s (the klines endpoint may not exist yet).
  useEffect(() => {
    if (live || status === 'missing') return;
    const id = setInterval(() => void load(false), 10_000);
    return () => clearInterval(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, status, market.symbol, interval]);

  useChannel(
    `klines.${market.symbol}.${interval}`,
    (m) => {
      if (m.type === 'error' || !m.data) return;
      const list = (Array.isArray(m.data) ? m.data : [m.data]) as Kline[];
      if (m.type === 'snapshot' && list.length > 1) draw(toBars(list));
      else list.forEach(update);
    },
  );

  return (
    <section className="panel chart" aria-labelledby="chart-title">
      <header>
        <h2 id="chart-title">Chart</h2>
        <div className="tabs" role="tablist" aria-label="Candle interval">
          {KLINE_INTERVALS.map((i) => (
            <button key={i} type="button" role="tab" aria-selected={interval === i} onClick={() => setInterval_(i)}>
              {i}
            </button>
          ))}
        </div>
      </header>
      <div className="chart-box" ref={box} data-testid="chart">
        {status !== 'ready' && (
          <div className="overlay" role="status">
            {status === 'loading' && 'Loading candles…'}
            {status === 'empty' && 'No trades yet: the chart fills in as the market trades.'}
            {status === 'missing' && 'Candles are not available yet on this server.'}
            {status === 'error' && describeError(error)}
          </div>
        )}
      </div>
    </section>
  );
}
