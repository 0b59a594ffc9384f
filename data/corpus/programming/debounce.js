/**
 * Debounce and throttle: limit how often an event handler runs.
 *
 * Browsers fire scroll, resize and keyboard events many times a second.
 * Running an expensive handler, such as a search request, on every event
 * wastes work and makes the page stutter.
 *
 * A debounced function waits until the events stop for `wait` milliseconds and
 * then runs once: ideal for search-as-you-type, where only the final text
 * matters. A throttled function runs at most once every `wait` milliseconds
 * while events keep coming: better for scroll position or progress updates.
 */

export function debounce(fn, wait) {
  let timer = null;
  return function debounced(...args) {
    clearTimeout(timer);
    // Restart the countdown on every call; only the last call survives.
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

export function throttle(fn, wait) {
  let last = 0;
  return function throttled(...args) {
    const now = Date.now();
    if (now - last >= wait) {
      last = now;
      fn.apply(this, args);
    }
  };
}

// Example: query the server only after the user pauses typing for 300 ms.
// input.addEventListener("input", debounce((e) => search(e.target.value), 300));
