"""Launching Debian's Chromium for Playwright, and in-page checks of accessibility basics."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Browser downloads are impossible here, so Playwright drives the distribution's Chromium.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGUMENTS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


# Text elements whose contrast against their effective background is under WCAG AA
# (4.5:1, or 3:1 for large text). Returns [{text, ratio, color, background}].
CONTRAST_FAILURES_JS = """
() => {
  const parse = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const parts = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (element) => {
    const layers = [];
    for (let node = element; node; node = node.parentElement) {
      const bg = parse(getComputedStyle(node).backgroundColor);
      if (bg && bg.a > 0) { layers.push(bg); if (bg.a >= 1) break; }
    }
    let result = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) result = blend(layer, result);
    return result;
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const element = walker.currentNode.parentElement;
    if (!text || !element || seen.has(element)) continue;
    seen.add(element);
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    if (style.visibility === "hidden" || style.display === "none") continue;
    if (box.width === 0 || box.height === 0 || Number(style.opacity) === 0) continue;
    if (element.closest("[hidden], .skip-link, .toast:not(.visible)")) continue;
    const bg = background(element);
    const fg = blend(parse(style.color), bg);
    const [light, dark] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      failures.push({
        text: text.slice(0, 40),
        ratio: Math.round(ratio * 100) / 100,
        color: style.color,
        background: JSON.stringify(bg),
      });
    }
  }
  return failures;
}
"""

# Form controls with no accessible name (no <label>, aria-label or aria-labelledby).
UNLABELLED_CONTROLS_JS = """
() => [...document.querySelectorAll("input, textarea, select")]
  .filter((control) => control.type !== "hidden")
  .filter((control) => !(control.labels && control.labels.length) &&
    !control.getAttribute("aria-label") && !control.getAttribute("aria-labelledby"))
  .map((control) => control.outerHTML.slice(0, 80))
"""

# The focused element's outline, to prove that keyboard focus is visible.
FOCUS_STYLE_JS = """
() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  return { tag: element.tagName, text: (element.textContent || "").trim().slice(0, 40),
           outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) };
}
"""
