"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { clearCache } from "@/app/actions";

/** Calls clear-cache on the server, then re-renders the page with fresh numbers. */
export function ClearCacheButton(props: { label: string; busyLabel: string; doneLabel: string; failedLabel: string }) {
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);

  function onClick() {
    setStatus(null);
    startTransition(async () => {
      const result = await clearCache();
      if (result.ok) {
        router.refresh();
        setStatus({ ok: true, text: props.doneLabel });
      } else {
        setStatus({ ok: false, text: `${props.failedLabel}: ${result.error}` });
      }
    });
  }

  return (
    <span className="clear-cache">
      <button type="button" onClick={onClick} disabled={pending} data-testid="clear-cache">
        {pending ? props.busyLabel : props.label}
      </button>
      {status && !pending && (
        <span role="status" className={status.ok ? "status ok" : "status failed"} data-testid="clear-cache-status">
          {status.text}
        </span>
      )}
    </span>
  );
}
