"""Statistics shared by the scripts and the report: the sample SD, means and SDs of result rows, and a
factorial ANOVA."""

import lazy_loader
import numpy as np

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

ANOVA_TYPE = 2  # type II sums of squares (factorial_anova says why)


def sample_sd(values):
    """The sample standard deviation (ddof 1) of `values`; 0.0 for fewer than two values."""
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def mean_and_sd(rows, keys, ddof=1):
    """{key_mean, key_sd} over `rows` (dicts) for every key of `keys` the rows hold (the first row
    decides); the SD with `ddof` (1: `sample_sd`)."""
    sd = sample_sd if ddof == 1 else (lambda values: float(np.std(values, ddof=ddof)))
    summary = {}
    for key in keys:
        if key in rows[0]:
            values = [row[key] for row in rows]
            summary[f"{key}_mean"], summary[f"{key}_sd"] = float(np.mean(values)), sd(values)
    return summary


def factorial_anova(trials, factors, response):
    """Main effects and two-way interactions of the varied `factors` on `response`, type II sums of squares.

    Returns (table, notes). Type II tests each effect after every other effect that does not
    contain it (marginality): in a complete balanced grid it equals the classical decomposition,
    and it stays meaningful if some trials are missing. Type III would need sum-to-zero contrasts
    and tests main effects averaged over interactions, which is not the question asked here.
    """
    varied = [factor for factor in factors if trials[factor].nunique() > 1]
    notes = [f"{f} has a single level in this grid and is left out of the ANOVA." for f in factors if f not in varied]
    if not varied:
        return None, notes + ["No hyperparameter varies, so there is nothing to apportion."]
    terms = " + ".join(f"C({factor})" for factor in varied)
    formula = f"{response} ~ ({terms})**2" if len(varied) > 1 else f"{response} ~ {terms}"
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    model = smf.ols(formula, data=trials).fit()
    total_ss = float(((trials[response] - trials[response].mean()) ** 2).sum())
    if total_ss == 0:
        return None, notes + [f"{response} is identical in every trial, so there is no variance to apportion."]
    if float(model.df_resid) < 1:
        return None, notes + [
            "The model leaves no residual degrees of freedom (too few trials for main effects and "
            "two-way interactions), so no F test is possible."
        ]
    anova = anova_lm(model, typ=ANOVA_TYPE)
    sum_sq, residual_ss = anova["sum_sq"].to_numpy(), float(anova.loc["Residual", "sum_sq"])
    table = pd.DataFrame({
        # 'C(n1):C(dropout)' -> 'n1 × dropout'
        "term": ["residual" if t == "Residual" else " × ".join(part[2:-1] for part in t.split(":")) for t in anova.index],
        "kind": ["residual" if t == "Residual" else ("interaction" if ":" in t else "main") for t in anova.index],
        "df": anova["df"].to_numpy(),
        "sum_sq": sum_sq,
        "eta_sq": sum_sq / total_ss,
        "partial_eta_sq": sum_sq / (sum_sq + residual_ss),
        "F": anova["F"].to_numpy(),
        "p_value": anova["PR(>F)"].to_numpy(),
    })
    table.loc[table["kind"] == "residual", "partial_eta_sq"] = np.nan
    effects = table[table["kind"] != "residual"].sort_values("eta_sq", ascending=False, kind="stable")
    return pd.concat([effects, table[table["kind"] == "residual"]], ignore_index=True), notes
