// The `test` every spec uses: Playwright's, with a check after each test that no page open in
// the browser met an error: an exception thrown by a script (a panic in Portal's WASM module
// throws one, and so does a page that cannot hydrate) or an error logged to the console. One
// console error is allowed, "Failed to load resource": that is the browser noting a refusal the
// test asked for (a wrong password, a page without a session) or a web font the tests keep
// offline, not a fault of the page.
import { Browser, expect, test as base } from "@playwright/test";

export { expect };

async function browserErrors(browser: Browser): Promise<string[]> {
  const errors: string[] = [];
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      for (const error of await page.pageErrors({ filter: "all" })) {
        errors.push(`${page.url()}: ${error.message}`);
      }
      for (const message of await page.consoleMessages({ filter: "all" })) {
        if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
          errors.push(`${message.location().url || page.url()}: ${message.text()}`);
        }
      }
    }
  }
  return errors;
}

export const test = base.extend<{ noBrowserErrors: void }>({
  noBrowserErrors: [
    async ({ browser, page }, use) => {
      // Asking for the test's page keeps it open until this check has read it.
      void page;
      await use();
      expect(await browserErrors(browser), "errors in the browser").toEqual([]);
    },
    { auto: true },
  ],
});
