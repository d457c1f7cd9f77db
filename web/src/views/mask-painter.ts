// The mask of an edit, painted over the picture: a canvas at the picture's own size laid over it,
// painted with Pointer Events (mouse, pen and touch alike) or the keyboard (arrows move the brush,
// Space paints where it is, Shift+arrows paint as they move), with a brush of a chosen size, an
// eraser, undo and clear. What it gives is what the database and the worker read: a PNG of the
// picture's size, white where to repaint and black elsewhere, and how many pixels are painted.
import { attr, h, text } from "../dom";

/** A painted mask, ready to upload. */
export interface Mask {
  png: Blob;
  width: number;
  height: number;
  /** Pixels painted (white in the PNG). */
  painted: number;
}

export interface MaskPainter {
  element: HTMLElement;
  /** Starts afresh over a picture of width × height (its URL, and its words for screen readers). */
  reset(url: string | null, width: number, height: number, alt: string): void;
  /** How many pixels are painted now. */
  painted(): number;
  toMask(): Promise<Mask>;
}

/** Shown over the picture while painting; the PNG is black and white whatever it shows. */
const INK = "rgb(255 0 110)";
const UNDO_DEPTH = 20;
/** A pixel at least this opaque counts as painted (the brush's anti-aliased edge is half in). */
const PAINTED_ALPHA = 128;

export function maskPainter(): MaskPainter {
  const picture = h("img", { class: "mask-picture", alt: "", "data-testid": "mask-picture" });
  const canvas = h("canvas", { class: "mask-canvas", role: "img", tabIndex: 0, "aria-describedby": "mask-keys", "data-testid": "mask-canvas" });
  const cursor = h("div", { class: "mask-cursor", "aria-hidden": "true" });
  const keys = h("p", { id: "mask-keys", class: "hint" }, "With the keyboard: arrows move the brush, Space paints where it is, Shift+arrows paint as they move.");
  const size = h("input", { type: "range", id: "brush-size", min: 2, max: 64, step: 1, value: "16", "data-testid": "brush-size" });
  const eraser = h("button", { type: "button", "aria-pressed": "false", "data-testid": "mask-eraser" }, "Eraser");
  const undo = h("button", { type: "button", "data-testid": "mask-undo" }, "Undo");
  const clear = h("button", { type: "button", "data-testid": "mask-clear" }, "Clear");
  const status = h("p", { class: "hint", "aria-live": "polite", "data-testid": "mask-status" });
  const element = h(
    "div",
    { class: "mask-painter" },
    h("div", { class: "mask-stage" }, picture, canvas, cursor),
    h("div", { class: "toolbar mask-tools" }, h("label", { for: "brush-size" }, "Brush size"), size, eraser, undo, clear),
    keys,
    status,
  );
  const pen = canvas.getContext("2d", { willReadFrequently: true })!;
  const history: ImageData[] = [];
  let last: { x: number; y: number } | null = null;
  let stroke: number | null = null; // the pointer painting, if any

  function coverage(): number {
    const { data } = pen.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! >= PAINTED_ALPHA) count += 1;
    return count;
  }

  function said(): void {
    const count = coverage();
    const share = (100 * count) / (canvas.width * canvas.height);
    text(status, count === 0 ? "Nothing painted yet: paint over what should change." : `${share < 1 ? "under 1" : Math.round(share)} % of the picture painted.`);
    attr(canvas, "data-painted", count);
    undo.disabled = history.length === 0;
  }

  function remember(): void {
    history.push(pen.getImageData(0, 0, canvas.width, canvas.height));
    if (history.length > UNDO_DEPTH) history.shift();
  }

  /** Where a pointer is, in the picture's pixels. */
  function at(event: PointerEvent): { x: number; y: number } {
    const box = canvas.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * canvas.width) / box.width, y: ((event.clientY - box.top) * canvas.height) / box.height };
  }

  function paintTo(point: { x: number; y: number }): void {
    pen.globalCompositeOperation = eraser.getAttribute("aria-pressed") === "true" ? "destination-out" : "source-over";
    pen.strokeStyle = INK;
    pen.fillStyle = INK;
    pen.lineWidth = Number(size.value);
    pen.lineCap = "round";
    pen.lineJoin = "round";
    pen.beginPath();
    if (last) {
      pen.moveTo(last.x, last.y);
      pen.lineTo(point.x, point.y);
      pen.stroke();
    } else {
      pen.arc(point.x, point.y, pen.lineWidth / 2, 0, 2 * Math.PI);
      pen.fill();
    }
    last = point;
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (stroke !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    stroke = event.pointerId;
    canvas.setPointerCapture(event.pointerId);
    remember();
    last = null;
    paintTo(at(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (event.pointerId !== stroke) return;
    for (const moved of event.getCoalescedEvents?.() ?? [event]) paintTo(at(moved));
  });
  const end = (event: PointerEvent) => {
    if (event.pointerId !== stroke) return;
    stroke = null;
    last = null;
    said();
  };
  // The keyboard's brush: where it is, in the picture's pixels, shown as a ring while focused.
  let brush = { x: 0, y: 0 };
  const place = () => {
    const radius = Number(size.value) / 2;
    Object.assign(cursor.style, {
      left: `${(100 * (brush.x - radius)) / canvas.width}%`,
      top: `${(100 * (brush.y - radius)) / canvas.height}%`,
      width: `${(100 * 2 * radius) / canvas.width}%`,
      height: `${(100 * 2 * radius) / canvas.height}%`,
    });
  };
  const moves: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  canvas.addEventListener("keydown", (event) => {
    const move = moves[event.key];
    if (!move && event.key !== " ") return;
    event.preventDefault();
    if (!move || event.shiftKey) {
      if (!move || !event.repeat) remember();
      last = move ? { ...brush } : null;
    }
    if (move) {
      const step = Math.max(1, Number(size.value) / 2);
      brush = { x: Math.min(canvas.width, Math.max(0, brush.x + move[0] * step)), y: Math.min(canvas.height, Math.max(0, brush.y + move[1] * step)) };
      place();
    }
    if (!move || event.shiftKey) {
      paintTo(brush);
      last = null;
      said();
    }
  });
  size.addEventListener("input", place);
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  eraser.addEventListener("click", () => attr(eraser, "aria-pressed", eraser.getAttribute("aria-pressed") === "true" ? "false" : "true"));
  undo.addEventListener("click", () => {
    const before = history.pop();
    if (before) pen.putImageData(before, 0, 0);
    said();
  });
  clear.addEventListener("click", () => {
    remember();
    pen.clearRect(0, 0, canvas.width, canvas.height);
    said();
  });

  return {
    element,
    reset(url, width, height, alt) {
      attr(picture, "src", url);
      canvas.width = width;
      canvas.height = height;
      element.style.setProperty("--mask-aspect", `${width} / ${height}`);
      attr(canvas, "aria-label", `Mask over ${alt}: paint where the picture should change`);
      // A brush of about a twentieth of the picture's short side to start with.
      const side = Math.min(width, height);
      size.max = String(Math.max(8, Math.round(side / 4)));
      size.value = String(Math.max(2, Math.round(side / 20)));
      attr(eraser, "aria-pressed", "false");
      history.length = 0;
      stroke = null;
      last = null;
      brush = { x: width / 2, y: height / 2 };
      place();
      said();
    },
    painted: coverage,
    async toMask() {
      const { width, height } = canvas;
      const painted = pen.getImageData(0, 0, width, height);
      const out = document.createElement("canvas");
      out.width = width;
      out.height = height;
      const ink = out.getContext("2d")!;
      const mask = ink.createImageData(width, height);
      let count = 0;
      for (let i = 0; i < painted.data.length; i += 4) {
        const on = painted.data[i + 3]! >= PAINTED_ALPHA;
        if (on) count += 1;
        mask.data.fill(on ? 255 : 0, i, i + 3);
        mask.data[i + 3] = 255;
      }
      ink.putImageData(mask, 0, 0);
      const png = await new Promise<Blob | null>((resolve) => out.toBlob(resolve, "image/png"));
      if (!png) throw new Error("The browser could not make a PNG of the mask");
      return { png, width, height, painted: count };
    },
  };
}
