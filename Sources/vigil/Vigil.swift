import ArgumentParser
@main struct Vigil: ParsableCommand { func run() {} }
