// Building the page with DOM APIs only: text always goes in as text, never as markup,
// because titles and descriptions come from a third party.

/**
 * Create an element. `props` sets properties (className, type, value, disabled, ...),
 * `attrs` in props sets attributes (aria-*, data-*, for, ...), `on` adds listeners.
 * Children are nodes or strings; strings become text nodes.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  const { attrs = {}, on = {}, ...rest } = props;
  for (const [name, value] of Object.entries(rest)) {
    if (value !== undefined && value !== null) element[name] = value;
  }
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === undefined || value === null) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [event, handler] of Object.entries(on)) element.addEventListener(event, handler);
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

let uniqueCounter = 0;
export function uniqueId(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A labelled form field; returns { field, input }. */
export function field({ label, name, type = "text", value = "", multiline = false, hint, ...extra }) {
  const id = uniqueId(name);
  const hintId = hint ? `${id}-hint` : undefined;
  const input = multiline
    ? h("textarea", { id, name, value, rows: 3, attrs: { "aria-describedby": hintId, ...extra } })
    : h("input", { id, name, type, value, attrs: { "aria-describedby": hintId, ...extra } });
  const fieldElement = h(
    "div",
    { className: "field" },
    h("label", { htmlFor: id }, label),
    input,
    hint ? h("p", { className: "hint", id: hintId }, hint) : null,
  );
  return { field: fieldElement, input };
}

/** Split the upstream's comma-separated genres into clean names. */
export function genreList(genres) {
  return String(genres || "")
    .split(",")
    .map((genre) => genre.trim())
    .filter(Boolean);
}

export function genreChips(genres) {
  const names = genreList(genres);
  if (names.length === 0) return h("p", { className: "muted small" }, "No genres listed");
  return h(
    "ul",
    { className: "chips", attrs: { "aria-label": "Genres" } },
    names.map((name) => h("li", { className: "chip" }, name)),
  );
}

/** Replace an element's children (skipping null/false, strings as text). */
export function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}
