/**
 * Scripts that run inside the page for `npm run bench:ui`. Kept as source strings (not functions):
 * tsx compiles functions with helper calls that do not exist in the browser.
 *
 * Frame timing: a requestAnimationFrame callback registered first runs at the start of a frame;
 * a MessageChannel message posted from it is delivered after that frame's rendering work (Vue's
 * flush, ResizeObserver callbacks, later rAF callbacks, style, layout, paint), so the gap is the
 * frame's main-thread cost without the wait for vsync.
 */

/** Scrolls `selector` by `step` px every frame to the end (or `limitMs`); resolves with frame gaps. */
export function fastScrollProbe(selector: string, frames: number, limitMs: number): string {
  return `(async () => {
    const el = document.querySelector(${JSON.stringify(selector)});
    if (!el) throw new Error('no grid ' + ${JSON.stringify(selector)});
    const max = el.scrollHeight - el.clientHeight;
    const step = Math.max(1, Math.ceil(max / ${frames}));
    const gaps = [];
    const start = performance.now();
    let last = start;
    await new Promise((resolve) => {
      const tick = (now) => {
        gaps.push(now - last); last = now;
        if (el.scrollTop >= max - 1 || now - start > ${limitMs}) { resolve(); return; }
        el.scrollTop = Math.min(max, el.scrollTop + step);
        requestAnimationFrame(tick);
      };
      requestAnimationFrame((now) => { last = now; requestAnimationFrame(tick); });
    });
    return { gaps, reachedFraction: max > 0 ? el.scrollTop / max : 1, scrollMs: performance.now() - start };
  })()`;
}

/** Resolves when every image in view in `selector` has loaded (or `limitMs`); returns the wait in ms. */
export function lastImageProbe(selector: string, limitMs: number): string {
  return `(async () => {
    const el = document.querySelector(${JSON.stringify(selector)});
    const start = performance.now();
    const box = el.getBoundingClientRect();
    const done = () => {
      const imgs = [...el.querySelectorAll('img')].filter((img) => {
        const r = img.getBoundingClientRect();
        return r.bottom > box.top && r.top < box.bottom && r.width > 0;
      });
      return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0 && img.getAttribute('src'));
    };
    while (!done()) {
      if (performance.now() - start > ${limitMs}) return -1;
      await new Promise((r) => setTimeout(r, 20));
    }
    return performance.now() - start;
  })()`;
}

const FRAME_HELPERS = `
  const afterFrame = () => new Promise((resolve) => {
    requestAnimationFrame((frameStart) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve({ frameStart, frameEnd: performance.now() });
      channel.port2.postMessage(0);
    });
  });
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
`;

/** Median main-thread cost of a full map redraw forced by resizing the canvas's box. */
export function mapDrawProbe(selector: string, repeats: number): string {
  return `(async () => {
    ${FRAME_HELPERS}
    const canvas = document.querySelector(${JSON.stringify(selector)});
    const box = canvas.parentElement;
    const times = [];
    for (let i = 0; i < ${repeats}; i++) {
      const frame = afterFrame();
      box.style.width = (i % 2 === 0 ? 'calc(100% - 2px)' : '');
      const { frameStart, frameEnd } = await frame;
      times.push(frameEnd - frameStart);
    }
    box.style.width = '';
    await afterFrame();
    return median(times);
  })()`;
}

/** Median cost of one mouse move over the map: the handler and the frame it causes. */
export function mapHoverProbe(selector: string, moves: number): string {
  return `(async () => {
    ${FRAME_HELPERS}
    const canvas = document.querySelector(${JSON.stringify(selector)});
    const rect = canvas.getBoundingClientRect();
    const times = [];
    for (let i = 0; i < ${moves}; i++) {
      const frame = afterFrame();
      const t0 = performance.now();
      const x = rect.left + rect.width * (0.2 + 0.6 * ((i * 37) % ${moves}) / ${moves});
      const y = rect.top + rect.height * (0.2 + 0.6 * ((i * 61) % ${moves}) / ${moves});
      canvas.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true }));
      await Promise.resolve(); await Promise.resolve();
      const handled = performance.now() - t0;
      const { frameStart, frameEnd } = await frame;
      times.push(handled + (frameEnd - Math.max(frameStart, t0 + handled)));
    }
    return median(times);
  })()`;
}

/**
 * Median cost of one wheel step over the map's overlay (`selector`): the handler and the redraw
 * frame it schedules (the path a zoom takes; a drag-pan redraws the same way).
 */
export function mapWheelProbe(selector: string, steps: number): string {
  return `(async () => {
    ${FRAME_HELPERS}
    const overlay = document.querySelector(${JSON.stringify(selector)});
    const rect = overlay.getBoundingClientRect();
    const times = [];
    for (let i = 0; i < ${steps}; i++) {
      await afterFrame();
      const t0 = performance.now();
      const deltaY = i < ${steps} / 2 ? -120 : 120;
      overlay.dispatchEvent(new WheelEvent('wheel', { clientX: rect.left + rect.width / 2, clientY: rect.top + rect.height / 2, deltaY, bubbles: true, cancelable: true }));
      // The handler schedules the redraw for the next frame; the second frame is the one after it.
      await afterFrame();
      const { frameEnd } = await afterFrame();
      times.push(frameEnd - t0);
    }
    return median(times);
  })()`;
}

/**
 * A Shift-drag lasso over the left half of the map's overlay (`selector`): ms from the mouse-up
 * until the grid below names the selection (\`countSelector\` changes) and a frame has drawn it,
 * and the count the grid then shows. Cleared again afterwards.
 */
export function mapLassoProbe(selector: string, countSelector: string, clearSelector: string): string {
  return `(async () => {
    ${FRAME_HELPERS}
    const overlay = document.querySelector(${JSON.stringify(selector)});
    const countText = () => document.querySelector(${JSON.stringify(countSelector)})?.textContent ?? '';
    const before = countText();
    const rect = overlay.getBoundingClientRect();
    const at = (fx, fy) => ({ clientX: rect.left + fx * rect.width, clientY: rect.top + fy * rect.height, bubbles: true, shiftKey: true, button: 0 });
    const corners = [[0.05, 0.05], [0.5, 0.05], [0.5, 0.95], [0.05, 0.95], [0.05, 0.06]];
    overlay.dispatchEvent(new MouseEvent('mousedown', at(...corners[0])));
    for (let c = 1; c < corners.length; c++) {
      const [ax, ay] = corners[c - 1]; const [bx, by] = corners[c];
      for (let s = 1; s <= 8; s++) overlay.dispatchEvent(new MouseEvent('mousemove', at(ax + (bx - ax) * s / 8, ay + (by - ay) * s / 8)));
    }
    const t0 = performance.now();
    overlay.dispatchEvent(new MouseEvent('mouseup', at(...corners[corners.length - 1])));
    while (countText() === before) {
      if (performance.now() - t0 > 60000) throw new Error('the lasso selected nothing in 60 s');
      await afterFrame();
    }
    const { frameEnd } = await afterFrame();
    const selected = Number(countText().replace(/[^0-9]/g, ''));
    document.querySelector(${JSON.stringify(clearSelector)})?.click();
    await afterFrame();
    return { ms: frameEnd - t0, selected };
  })()`;
}
