// On every page. An app's logo that fails to load is removed, so its initial shows instead of a
// broken-image box: the Content-Security-Policy allows no inline `onerror`, so it is done here.
(() => {
  const fallBack = (img) => {
    img.closest('.client')?.classList.remove('has-logo');
    img.remove();
  };
  // `error` does not bubble, but it can be caught on the way down (capture): this also covers logos
  // added later (the waiting page swapping its card)
  document.addEventListener('error', (event) => {
    if (event.target instanceof HTMLImageElement && event.target.matches('img.client-logo')) fallBack(event.target);
  }, true);
  // and the ones that failed before this script ran
  for (const img of document.querySelectorAll('img.client-logo')) {
    if (img.complete && img.naturalWidth === 0) fallBack(img);
  }
})();
