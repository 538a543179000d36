//! A tiny assembler for classic BPF written by hand: forward jumps to
//! labels, resolved when the program is finished.

use super::*;

/// A tiny assembler: forward jumps to labels, resolved at the end.
#[derive(Default)]
pub struct Asm {
    code: Vec<Insn>,
    /// (instruction index, label for jt, label for jf, or label for JA k)
    fixups: Vec<(usize, Option<usize>, Option<usize>)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    pub fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    pub fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.code.len());
    }
    pub fn op(&mut self, code: u16, k: u32) {
        self.code.push(Insn::stmt(code, k));
    }
    /// Conditional jump; `None` falls through.
    pub fn jif(&mut self, code: u16, k: u32, jt: Option<usize>, jf: Option<usize>) {
        self.fixups.push((self.code.len(), jt, jf));
        self.code.push(Insn::jump(JMP | code | K, k, 0, 0));
    }
    pub fn ja(&mut self, l: usize) {
        self.fixups.push((self.code.len(), Some(l), None));
        self.code.push(Insn::stmt(JMP | JA, 0));
    }
    pub fn finish(mut self) -> Vec<Insn> {
        for (at, jt, jf) in std::mem::take(&mut self.fixups) {
            let target = |l: usize| self.labels[l].expect("label bound") - (at + 1);
            let i = &mut self.code[at];
            if i.code == JMP | JA {
                i.k = target(jt.expect("ja target")) as u32;
            } else {
                if let Some(l) = jt {
                    i.jt = u8::try_from(target(l)).expect("short jump");
                }
                if let Some(l) = jf {
                    i.jf = u8::try_from(target(l)).expect("short jump");
                }
            }
        }
        self.code
    }
}
