/**
 * Excel workbooks (.xlsx, exceljs) for auditors: one worksheet per table, with amounts as number cells and
 * times as date cells, so sums, filters and date arithmetic work without first converting text as a CSV needs.
 * The tables are the CSV export's own (controllers/export.ts): the same rows, typed.
 */
import ExcelJS from 'exceljs';
import { Money } from './money';

/** A table cell: Money and Date keep their type in the workbook; the CSV writes them as text. */
export type Cell = string | number | Date | Money | null | undefined;

export interface Table {
  /** Worksheet name (at most 31 characters, as Excel allows). */
  name: string;
  header: string[];
  rows: Cell[][];
}

const YUAN_FORMAT = '#,##0.00';
const DATE_FORMAT = 'yyyy-mm-dd hh:mm:ss';

/**
 * `offsetMinutes` is the zone the dates are shown in: an Excel date has no zone, so a cell holds the wall-clock
 * time there (the time the CSV file writes), and the header of a date column names the zone.
 */
export async function workbookOf(tables: readonly Table[], offsetMinutes: number, zoneLabel: string): Promise<Buffer> {
  const book = new ExcelJS.Workbook();
  book.creator = 'poverty-fund-platform';
  book.created = new Date();
  for (const table of tables) {
    const sheet = book.addWorksheet(table.name, { views: [{ state: 'frozen', ySplit: 1 }] });
    const kinds = table.header.map((_, c) => columnKind(table.rows, c));
    sheet.columns = table.header.map((title, c) => ({
      header: kinds[c] === 'date' ? `${title} (${zoneLabel})` : title,
      width: kinds[c] === 'date' ? 20 : Math.min(40, Math.max(10, title.length * 2)),
      style: kinds[c] === 'money' ? { numFmt: YUAN_FORMAT } : kinds[c] === 'date' ? { numFmt: DATE_FORMAT } : {},
    }));
    sheet.getRow(1).font = { bold: true };
    for (const row of table.rows) sheet.addRow(row.map((cell) => cellValue(cell, offsetMinutes)));
  }
  return Buffer.from(await book.xlsx.writeBuffer());
}

function columnKind(rows: readonly Cell[][], c: number): 'money' | 'date' | 'other' {
  const first = rows.find((r) => r[c] instanceof Money || r[c] instanceof Date)?.[c];
  return first instanceof Money ? 'money' : first instanceof Date ? 'date' : 'other';
}

function cellValue(cell: Cell, offsetMinutes: number): ExcelJS.CellValue {
  if (cell instanceof Money) return cell.yuan;
  // exceljs writes a Date by its UTC fields: shifted by the zone's offset, they are the wall-clock time there.
  if (cell instanceof Date) return new Date(cell.getTime() + offsetMinutes * 60_000);
  if (cell === '' || cell === null || cell === undefined) return null;
  return cell;
}
