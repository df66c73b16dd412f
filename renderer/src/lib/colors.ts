/** Class colours (Tableau-like), readable on light and dark backgrounds. */
export const CLASS_COLORS = ['#3b82c4', '#e07b39', '#4f9d69', '#c8485a', '#8e6cc8', '#8c6a4f', '#d46fb0', '#7f7f7f', '#b5b533', '#2fb3c4'] as const;
