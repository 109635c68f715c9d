import Link from "next/link";

/** A group of links that each set one query parameter; the current one is marked. */
export function Switch(props: {
  id: string;
  label: string;
  current: string;
  options: { value: string; label: string; href: string }[];
}) {
  return (
    <nav className="switch" aria-label={props.label} data-testid={props.id}>
      {props.options.map((o) => (
        <Link
          key={o.value}
          href={o.href}
          aria-current={o.value === props.current ? "true" : undefined}
          data-value={o.value}
          scroll={false}
        >
          {o.label}
        </Link>
      ))}
    </nav>
  );
}
